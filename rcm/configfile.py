"""Reading configuration files safely: the one way rcm opens what it obeys.

rcmd runs as root and does what its configuration says, so a file that
another user could write -- or a folder on its path in which another user
could replace or remove it -- is a way to steer root.  Every configuration
file (``rcm.toml``, ``ipmp.toml``, ``interfaces/*.toml``, and any file a
plugin reads) goes through :func:`read_config_text` or
:func:`read_config_toml`, which refuse, with one :class:`ConfigError` naming
the file and the fault:

* a file, or a folder on its path, owned by a user other than root (or the
  user running rcm), or writable by group or others.  A folder others may
  write is accepted only with the sticky bit (as ``/tmp``): there others can
  add entries but not replace or remove root's, and whatever they add is
  refused for its owner;
* anything but a regular file: a FIFO (opened non-blocking, so it never
  hangs start), a device such as ``/dev/zero``, a socket, a folder.  A
  symlink is followed if its target passes the same checks (the folders of
  the link and of its target are checked);
* a file larger than :data:`MAX_CONFIG_BYTES` (1 MiB);
* text that is not UTF-8, and (for TOML) a syntax error, with its line.

The ownership rule is the one plugins get (:func:`ownership_fault` is shared
with :func:`rcm.plugins.check_safe`).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from rcm.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20
"""The largest configuration file read (1 MiB): thousands of addresses fit,
a runaway file or a device does not exhaust memory."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
)


def ownership_fault(st: os.stat_result, *, sticky_ok: bool = False) -> str | None:
    """Why another user could change the file or folder ``st`` describes, or None.

    Safe: owned by root or the user running rcm, not writable by group or
    others.  With ``sticky_ok``, a folder with the sticky bit may be writable
    by others (they cannot replace or remove entries they do not own).
    """
    me = os.geteuid()
    if st.st_uid not in (0, me):
        return f"owned by uid {st.st_uid}, not root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        if sticky_ok and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
            return None
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def check_folders(path: Path | str) -> None:
    """Refuse if a folder from ``/`` down to ``path`` (itself included, if a
    folder) is unsafe.  Missing folders are skipped (nothing to obey there);
    symlinked folders are checked where they point.
    """
    seen: set[str] = set()
    for start in (os.path.abspath(path), os.path.realpath(path)):
        folder = start
        chain = []
        while True:
            chain.append(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for folder in reversed(chain):
            if folder in seen:
                continue
            seen.add(folder)
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                break
            except OSError as e:
                raise ConfigError(folder, "", f"cannot read: {e.strerror or e}") from None
            if not stat.S_ISDIR(st.st_mode):
                continue  # a symlink (checked at its target) or the file itself
            fault = ownership_fault(st, sticky_ok=True)
            if fault:
                raise ConfigError(folder, "", f"refused: folder {fault}")


def list_config_folder(
    folder: Path | str, suffix: str = ".toml", files: str = "*.toml files"
) -> list[str] | None:
    """The sorted names in ``folder`` ending in ``suffix``; None if it is missing.

    The folder and those above it are checked first (see :func:`check_folders`);
    ``files`` describes what the folder should hold, for the error when it is
    not a folder.
    """
    folder = Path(folder)
    check_folders(folder)
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(folder, "", f"cannot read: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(folder, "", f"must be a directory of {files}")
    try:
        return sorted(name for name in os.listdir(folder) if name.endswith(suffix))
    except OSError as e:
        raise ConfigError(folder, "", f"cannot read: {e.strerror or e}") from None


def read_config_bytes(path: Path | str) -> bytes | None:
    """The bytes of the configuration file ``path``; None if there is none.

    Raises :class:`ConfigError` naming ``path`` for every fault listed in the
    module docstring.  A symlink whose target is missing is a fault, not a
    missing file.
    """
    check_folders(path)
    real = os.path.realpath(path)
    via = f" (symlink to {real})" if real != os.path.abspath(path) else ""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        if via:
            raise ConfigError(path, "", f"cannot read: {real} does not exist{via}") from None
        return None
    except OSError as e:
        raise ConfigError(path, "", f"cannot read: {e.strerror or e}{via}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode) and not via:
                raise ConfigError(path, "", "is a directory, not a file")
            raise ConfigError(path, "", f"not a regular file but {_kind(st.st_mode)}{via}")
        fault = ownership_fault(st)
        if fault:
            raise ConfigError(path, "", f"refused: {fault}{via}")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(path, "", _too_big(st.st_size))
        chunks = []
        size = 0
        while size <= MAX_CONFIG_BYTES:  # it may grow after fstat
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(path, "", _too_big(size))
        return b"".join(chunks)
    except OSError as e:
        raise ConfigError(path, "", f"cannot read: {e.strerror or e}{via}") from None
    finally:
        os.close(fd)


def _too_big(size: int) -> str:
    return f"larger than {MAX_CONFIG_BYTES} bytes (1 MiB): {size} bytes or more"


def read_config_text(path: Path | str) -> str | None:
    """The text of the configuration file ``path`` (UTF-8); None if missing."""
    data = read_config_bytes(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(path, "", f"not UTF-8 text (line {line}, byte {e.start})") from None


def read_config_toml(path: Path | str) -> dict[str, Any] | None:
    """The parsed TOML file ``path``; None if missing.  Every fault (those of
    :func:`read_config_text`, a syntax error with its line) is a ConfigError."""
    text = read_config_text(path)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        fault = str(e)
        # tomllib says "(at line N, column M)", except at the end of the
        # document: name the line there too, so every syntax error has one.
        if "(at end of document)" in fault:
            line = text.count("\n") + 1
            fault = fault.replace("(at end of document)", f"(at end of document, line {line})")
        raise ConfigError(path, "", f"TOML syntax error: {fault}") from None
