"""Fuzzing the configuration: rcm.toml, interfaces/*.toml and ipmp.toml, through the entry
point ``rcmd --check-config`` runs (``rcm.daemon.main``, in this process for speed; rcmd's start
configures through the same ``Coordinator.configure``).

Generated trees mix well-formed TOML with wrong keys, types and values, raw bytes, and files
that are not regular files or are unsafe (a folder, a FIFO, a symlink to a device, a
group-writable file).  Whatever the tree, the check must end (no hang: an alarm guards each
example), exit 0 with "configuration is valid" or exit 1 with exactly one line on stderr, never
print or log a traceback, and change nothing: the configuration tree is byte for byte what it
was and nothing is written to the state or runtime folder.

Examples: ``RCM_FUZZ_EXAMPLES`` (see tests/fuzzkit.py).  Needs root (files must be root's).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fuzzkit import FUZZ, progress
from hypothesis import event, example, given
from hypothesis import strategies as st
from rcm_lab.topology import to_toml

from rcm.daemon import main as rcmd_main

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="rcmd --check-config needs root")

NUMBERS = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 5, 60, 0.1, 1e-300, 99999999999, 86400, 86400.5, 4096, 4095])
)
SCALAR = NUMBERS | st.booleans() | st.text(max_size=20)
VALUE = st.recursive(SCALAR, lambda v: st.lists(v, max_size=4), max_leaves=8)
KEY = st.text(
    alphabet=st.characters(min_codepoint=ord("-"), max_codepoint=ord("z")), min_size=1, max_size=8
)


def table(keys: list[str], depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """A TOML table whose keys are mostly the ones rcm knows."""
    value = VALUE if depth == 0 else VALUE | st.deferred(lambda: table(keys, depth - 1))
    return st.dictionaries(st.sampled_from(keys) | KEY, value, max_size=4)


RCM_TOML = st.dictionaries(
    st.sampled_from(["handlers", "udev", "plugins", "netns"]) | KEY,
    table(["timeout", "receive_buffer", "net", "ipmp", "holding", "soak"], depth=1) | VALUE,
    max_size=4,
)
ADDRESS = st.sampled_from(
    [
        "192.0.2.10/24",
        "192.0.2.11/24",
        "2001:db8::10/64",
        "192.0.2.10",
        "192.0.2.10/33",
        "300.1.1.1/24",
        "::/0",
        "0.0.0.0/0",
        "192.0.2.010/24",
        "fe80::1/64",
        "192.0.2.10/24%nic0",
        "192.0.2.10/255.255.255.0",
        "127.0.0.1/8",
        "224.0.0.1/4",
    ]
) | st.text(max_size=20)
INTERFACE = st.fixed_dictionaries(
    {},
    optional={
        "group": st.sampled_from(["g", "h", "", "g" * 32, "a b"]) | SCALAR,
        "addresses": st.lists(ADDRESS, max_size=4) | VALUE,
        "test_addresses": st.lists(ADDRESS, max_size=2) | VALUE,
        "standby": st.booleans() | SCALAR,
        "extra": VALUE,
    },
)
IPMP_TOML = st.dictionaries(
    st.sampled_from(["groups"]) | KEY,
    st.dictionaries(
        st.sampled_from(["g", "h"]) | KEY,
        st.fixed_dictionaries({}, optional={"failback": st.booleans() | SCALAR, "x": VALUE})
        | VALUE,
        max_size=3,
    )
    | VALUE,
    max_size=2,
)
IFNAME = st.sampled_from(["nic0", "nic1", "eth0", "lo", "a" * 16, "bad name", "x.y"]) | st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=17,
).filter(lambda n: n not in (".", ".."))

KINDS = ["file"] * 12 + ["dir", "fifo", "devnull", "dangling", "writable"]


def content(structured: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    def as_toml(doc: dict[str, Any]) -> bytes:
        try:
            return to_toml(doc).encode("utf-8", "surrogatepass")
        except TypeError:  # a value the lab's writer cannot spell
            return b""

    good_bytes = st.builds(as_toml, structured)
    return (
        good_bytes
        | st.binary(max_size=64)
        | st.builds(
            lambda b, i, junk: b[:i] + junk + b[i:],
            good_bytes,
            st.integers(0, 80),
            st.binary(min_size=1, max_size=4),
        )
    )


def place(path: Path, kind: str, data: bytes) -> None:
    """Make ``path`` a config file of the given kind."""
    if kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "devnull":
        path.symlink_to("/dev/null")
    elif kind == "dangling":
        path.symlink_to(path.with_name("missing-target"))
    else:
        path.write_bytes(data)
        if kind == "writable":
            path.chmod(0o664)


def tree_state(root: Path) -> list[tuple[str, str, bytes]]:
    """Every entry under ``root``: name, type and mode, content of regular files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            st_ = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out.append((str(p), f"{st_.st_mode:o}", data))
    return sorted(out)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Alarm(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise Alarm("rcmd --check-config did not finish in 30 s")


@FUZZ
@given(
    rcm_toml=st.none() | st.tuples(st.sampled_from(KINDS), content(RCM_TOML)),
    ipmp_toml=st.none() | st.tuples(st.sampled_from(KINDS), content(IPMP_TOML)),
    interfaces=st.dictionaries(
        IFNAME.map(lambda n: n if n.endswith(".toml") else n + ".toml"),
        st.tuples(st.sampled_from(KINDS), content(INTERFACE)),
        max_size=3,
    ),
    no_interfaces_dir=st.booleans(),
)
# Found by the long run: a newline in a file name made the error two lines.
@example(
    rcm_toml=None, ipmp_toml=None, interfaces={"\n.toml": ("file", b"\n")}, no_interfaces_dir=False
)
@example(rcm_toml=("file", b'["a\\nb"]\n'), ipmp_toml=None, interfaces={}, no_interfaces_dir=False)
def test_any_configuration_is_accepted_or_refused_in_one_line(
    rcm_toml: tuple[str, bytes] | None,
    ipmp_toml: tuple[str, bytes] | None,
    interfaces: dict[str, tuple[str, bytes]],
    no_interfaces_dir: bool,
) -> None:
    progress()
    with tempfile.TemporaryDirectory(prefix="rcm-fuzz-config-") as tmp:
        root = Path(tmp)
        etc, state, run = root / "etc", root / "state", root / "run"
        etc.mkdir(mode=0o755)
        if rcm_toml is not None:
            place(etc / "rcm.toml", *rcm_toml)
        if ipmp_toml is not None:
            place(etc / "ipmp.toml", *ipmp_toml)
        if not no_interfaces_dir:
            (etc / "interfaces").mkdir(mode=0o755)
            for name, (kind, data) in interfaces.items():
                place(etc / "interfaces" / name, kind, data)
        before = tree_state(root)

        env = {"RCM_CONFIG_DIR": str(etc), "RCM_STATE_DIR": str(state), "RCM_RUNTIME_DIR": str(run)}
        saved = {k: os.environ.get(k) for k in env}
        out, err, logs = io.StringIO(), io.StringIO(), Collect()
        rootlog = logging.getLogger()
        rootlog.addHandler(logs)
        old_alarm = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(30)
        try:
            os.environ.update(env)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = rcmd_main(["--check-config"])
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old_alarm)
            rootlog.removeHandler(logs)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        stdout, stderr = out.getvalue(), err.getvalue()
        shown = f"exit {status}\n--- stdout\n{stdout}--- stderr\n{stderr}--- log\n" + "\n".join(
            logs.lines
        )
        assert status in (0, 1), shown
        event(f"exit {status}")
        assert "Traceback" not in stdout + stderr + "\n".join(logs.lines), shown
        if status == 0:
            assert stdout.splitlines()[-1] == "rcmd: configuration is valid", shown
            assert stderr == "", shown
        else:
            assert stderr.count("\n") == 1 and stderr.startswith("rcmd: "), shown
            assert str(etc) in stderr, shown  # the line names the file (or folder) at fault
        assert tree_state(root) == before, shown  # nothing written, nothing changed
