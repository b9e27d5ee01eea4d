"""Finding scripts, the ownership rule, and what rcm knows of each script.

Scripts are the executables in the scripts folders, in order
(``$RCM_CONFIG_DIR/scripts`` first, then ``[plugins.scripts] dirs``): a name
found in an earlier folder hides the same name in a later one, so an admin
overrides a script a package shipped in /usr/lib/rcm/scripts by putting one
of that name in /etc/rcm/scripts.  Hidden files and the leftovers of editors
and package managers (``*~``, ``*.dpkg-old`` …) are not scripts.

A script runs as root, so one that another user could change is a way to
become root.  The rule is the one plugins and configuration files get
(:func:`rcm.configfile.ownership_fault`): the file (a symlink is followed),
and every folder from ``/`` down to it, owned by root (or the user running
rcm) and not writable by group or others; the file must also be a regular
file and executable.  The rule is checked when the folders are read and
again right before every run.
"""

from __future__ import annotations

import os
import stat
import threading
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from rcm.configfile import check_folders, list_config_folder, ownership_fault
from rcm.errors import ConfigError

if TYPE_CHECKING:
    from .protocol import ScriptInfo

IGNORED_SUFFIXES = ("~", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".rpmsave", ".rpmnew", ".swp")


def is_script_name(name: str) -> bool:
    """Whether a file of this name in a scripts folder is taken for a script."""
    return not name.startswith(".") and not name.endswith(IGNORED_SUFFIXES)


def check_script(path: Path) -> None:
    """Raise :class:`ConfigError` naming ``path`` unless it is safe to run as root."""
    check_folders(path)  # every folder from / down, also where a symlink points
    real = os.path.realpath(path)
    via = f" (symlink to {real})" if real != os.path.abspath(path) else ""
    try:
        st = os.stat(real)
    except OSError as e:
        raise ConfigError(path, "", f"cannot read: {e.strerror or e}{via}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(path, "", f"refused: not a regular file{via}")
    fault = ownership_fault(st)
    if fault:
        raise ConfigError(path, "", f"refused: {fault}{via}")
    if not st.st_mode & stat.S_IXUSR:
        raise ConfigError(
            path, "", f"refused: not executable (mode {stat.S_IMODE(st.st_mode):o}){via}"
        )


def identity(path: Path) -> tuple[int, ...]:
    """What changes when the script is replaced or edited."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Script:
    """One script and what rcm has learnt of it.

    The object lives as long as rcm runs, once the name has been seen: its
    ``running`` lock (held from the start of a run until its process group
    is gone) is what keeps one script from being run twice at once, also
    across an edit.
    """

    __slots__ = ("name", "path", "running", "identity", "info", "disabled", "names", "refused")

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.running = threading.Lock()
        self.identity: tuple[int, ...] = ()
        self.info: ScriptInfo | None = None
        """Its ``scriptinfo`` answer; None until asked (again after an edit)."""
        self.disabled: str | None = None
        """Why it is disabled (a protocol error); None while usable."""
        self.names: list[str] = []
        """What its last successful ``register`` named."""
        self.refused: str | None = None
        """Why the ownership rule refuses it now (or it is gone); None if runnable."""

    def reset(self, path: Path, ident: tuple[int, ...]) -> None:
        """The file is new or changed: forget what it said, ask it again."""
        self.path, self.identity = path, ident
        self.info, self.disabled, self.names = None, None, []

    @property
    def usable(self) -> bool:
        return self.refused is None and self.disabled is None and self.info is not None

    def wants(self, resource: str) -> bool:
        """Whether one of its registered names (or patterns) is ``resource``."""
        return any(name == resource or fnmatchcase(resource, name) for name in self.names)


class Catalog:
    """The scripts of the folders, refreshed on demand."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self.scripts: dict[str, Script] = {}

    def found(self) -> dict[str, Path]:
        """Script name -> path, earlier folders first; raises ConfigError for
        an unsafe folder."""
        found: dict[str, Path] = {}
        for folder in self.folders:
            names = list_config_folder(folder, suffix="", files="scripts")
            for name in names or ():
                path = folder / name
                if is_script_name(name) and name not in found and not path.is_dir():
                    found[name] = path
        return found

    def refresh(self, strict: bool) -> list[str]:
        """Read the folders again; returns one line per script refused.

        With ``strict`` (at configuration time) the first refusal raises
        :class:`ConfigError` instead.  A refused script is dropped: it is not
        run until it is safe (and then asked ``scriptinfo`` afresh).
        """
        problems: list[str] = []
        try:
            found = self.found()
        except ConfigError as e:
            if strict:
                raise
            return [str(e)]
        # Script objects are kept even when refused or gone: a timed-out run
        # may still hold the lock, and the name may come back.
        for name, script in self.scripts.items():
            if name not in found:
                script.refused = f"{script.path}: no longer there"
        for name, path in found.items():
            try:
                check_script(path)
                ident = identity(path)
            except ConfigError as e:
                if strict:
                    raise
                problems.append(str(e))
                self._refuse(name, path, str(e))
                continue
            except OSError as e:  # removed between listing and stat
                problems.append(f"{path}: cannot read: {e.strerror or e}")
                self._refuse(name, path, problems[-1])
                continue
            script = self.scripts.setdefault(name, Script(name, path))
            if script.refused is not None or script.path != path or script.identity != ident:
                script.reset(path, ident)
                script.refused = None
        return problems

    def _refuse(self, name: str, path: Path, why: str) -> None:
        script = self.scripts.setdefault(name, Script(name, path))
        script.refused = why
        script.identity = ()  # asked afresh once it is safe again

    def ordered(self) -> list[Script]:
        """The scripts that may run now (not refused, not gone), by name."""
        return [self.scripts[n] for n in sorted(self.scripts) if self.scripts[n].refused is None]
