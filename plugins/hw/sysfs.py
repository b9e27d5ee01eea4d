"""Reading (and writing) sysfs under a configurable root.

Every ap class reads the system through one :class:`Sysfs`, never through
``/sys`` directly, so that tests point it at a fake tree built like the real
one (symlinks included, see :mod:`rcm_hw.faketree`).  Writes go through
:meth:`Sysfs.write` too: the real kernel reacts to them (removing a device's
folder, powering a slot off); a fake kernel (:mod:`rcm_hw.fakekernel`) is a
Sysfs whose ``write`` reacts the same way, and it registers itself for its
root so that a plugin configured with that root uses it (:func:`open_sysfs`).
"""

from __future__ import annotations

import os
from pathlib import Path

_KERNELS: dict[str, Sysfs] = {}
"""Sysfs objects registered for a root (fake kernels, in tests)."""


class SysfsError(OSError):
    """A sysfs read or write failed; the message names the file."""


class Sysfs:
    """The sysfs tree at ``root`` ("/sys" on a real system)."""

    def __init__(self, root: str | Path = "/sys") -> None:
        self.root = Path(root)

    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.path(rel))

    def read(self, rel: str, default: str | None = None) -> str | None:
        """The attribute's text without the trailing newline; ``default`` if
        it does not exist or cannot be read."""
        try:
            return self.path(rel).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return default

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return []

    def device_path(self, rel: str) -> str | None:
        """Where a symlink such as ``bus/pci/devices/0000:00:03.0`` leads, as
        udev names a device: ``/devices/pci0000:00/0000:00:03.0``."""
        try:
            real = os.path.realpath(self.path(rel), strict=True)
        except OSError:
            return None
        root = os.path.realpath(self.root)
        if not real.startswith(root + os.sep):
            return None
        return real[len(root) :]

    def write(self, rel: str, value: str) -> None:
        """Write one attribute, as ``echo value > /sys/...`` does."""
        path = self.path(rel)
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise SysfsError(e.errno, f"{path}: cannot write {value!r}: {e.strerror}") from None


def open_sysfs(root: str | Path) -> Sysfs:
    """The Sysfs for ``root``: a fake kernel registered for it, else the tree."""
    key = os.path.realpath(root)
    return _KERNELS.get(key) or Sysfs(root)


def register_kernel(sysfs: Sysfs) -> None:
    """Make :func:`open_sysfs` hand out ``sysfs`` for its root (fake kernels)."""
    _KERNELS[os.path.realpath(sysfs.root)] = sysfs


def unregister_kernel(sysfs: Sysfs) -> None:
    _KERNELS.pop(os.path.realpath(sysfs.root), None)
