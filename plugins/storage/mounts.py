"""What is mounted where, and which swap is active: /proc/self/mountinfo and
/proc/swaps, read from the paths ``[plugins.hw]`` names."""

from __future__ import annotations

from pathlib import Path

SYSTEM_MOUNTS = ("/", "/usr", "/var")


class Mount:
    __slots__ = ("dev", "point", "fstype", "source")

    def __init__(self, dev: str, point: str, fstype: str, source: str) -> None:
        self.dev = dev  # major:minor
        self.point = point
        self.fstype = fstype
        self.source = source


def _unescape(field: str) -> str:
    """mountinfo escapes blanks, tabs, newlines and backslashes in octal."""
    out = []
    i = 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def read_mounts(path: Path) -> list[Mount]:
    """Every mount of mountinfo(5); unreadable: none."""
    try:
        text = path.read_text()
    except OSError:
        return []
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 3:
            continue
        mounts.append(Mount(fields[2], _unescape(fields[4]), fields[sep + 1], fields[sep + 2]))
    return mounts


def read_swaps(path: Path) -> list[str]:
    """The active swap areas' names (``/dev/sda2``, ``/dev/dm-1``, a file)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [_unescape(line.split()[0]) for line in lines[1:] if line.split()]
