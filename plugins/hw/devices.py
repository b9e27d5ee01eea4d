"""The resource graph below a device: what a sysfs device folder carries.

A PCI function or a USB device carries network interfaces (a ``net/<ifname>``
folder somewhere below it, e.g. ``.../0000:00:03.0/virtio2/net/eth0``) and
disks (``.../block/sda``).  These become the RCM resources of the ap, after
the device's own path, so that unconfiguring a PCI NIC asks the network
handlers about ``net/<ifname>`` exactly as ``net:<ifname>`` does.
"""

from __future__ import annotations

import os

from .sysfs import Sysfs

MAX_DEPTH = 8
"""How deep below a device folder to look (real trees nest 2-5 levels)."""


def _walk(sysfs: Sysfs, rel: str, depth: int = 0):  # noqa: ANN202 - a generator of str
    """Every folder below ``rel`` (not following symlinks: ``subsystem``,
    ``driver`` and ``device`` lead back up or sideways), top-down."""
    if depth > MAX_DEPTH:
        return
    path = sysfs.path(rel)
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            child = f"{rel}/{entry.name}"
            yield child
            yield from _walk(sysfs, child, depth + 1)


def interfaces_below(sysfs: Sysfs, device: str) -> list[str]:
    """The network interfaces a device carries (``device`` is a path under
    the root, e.g. ``devices/pci0000:00/0000:00:03.0``), by name, sorted."""
    names = set()
    for folder in _walk(sysfs, device):
        parent, _, name = folder.rpartition("/")
        if parent.endswith("/net") and sysfs.exists(f"{folder}/ifindex"):
            names.add(name)
    return sorted(names)


def disks_below(sysfs: Sysfs, device: str) -> list[str]:
    """The whole-disk block devices below a device (``sda``), sorted."""
    names = set()
    for folder in _walk(sysfs, device):
        parent, _, name = folder.rpartition("/")
        if parent.endswith("/block") and sysfs.exists(f"{folder}/dev"):
            names.add(name)
    return sorted(names)


def resources_of(sysfs: Sysfs, device: str) -> tuple[str, ...]:
    """The device path (``/devices/...``, as udev names it) and what it
    carries: ``net/<ifname>`` and ``block/<disk>``."""
    return (
        "/" + device.lstrip("/"),
        *(f"net/{n}" for n in interfaces_below(sysfs, device)),
        *(f"block/{d}" for d in disks_below(sysfs, device)),
    )
