"""A fake kernel for a fake sysfs tree: it reacts to writes as Linux does.

Writing a PCI function's ``remove`` deletes its folder and everything below
(its NIC's ``net/<ifname>``, with the ``class/net`` and ``bus/pci/devices``
links), ``bus/pci/rescan`` brings removed functions back (those whose slot
is powered), a slot's ``power`` 0/1 takes its card away or brings it back,
``attention`` takes 0/1/2, a USB device's ``authorized`` 0/1 unbinds or binds
its interfaces' drivers (its NIC leaves and returns), a CPU's ``online`` and
a memory block's ``state`` change (a block that is not ``removable`` refuses
offline with EBUSY, as the kernel does), a SCSI device's ``delete`` removes it
with its disks and a host's ``scan`` brings them back.

Each change emits the uevent udev would deliver (:class:`rcm.model.Event`,
``source="udev"``, with ``SUBSYSTEM``, ``DEVPATH``, ``INTERFACE`` …): kept in
:attr:`FakeKernel.events` and handed to ``post`` when one is given (e.g.
``coordinator.post_event``).  ``on_net`` is called as ``on_net(ifname,
present)`` when a NIC leaves or returns, so that a lab test can make a real
veth vanish and return with the fake PCI card that "carries" it.

Use it as a context manager: it registers itself for its root
(:func:`rcm_hw.sysfs.register_kernel`), so a hw plugin configured with that
root writes through it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from rcm.model import Event

from .sysfs import Sysfs, SysfsError, register_kernel, unregister_kernel

LINK_FOLDERS = (
    "bus/pci/devices",
    "bus/usb/devices",
    "class/net",
    "class/block",
    "class/scsi_device",
)


class FakeKernel(Sysfs):
    def __init__(
        self,
        root: str | Path,
        post: Callable[[Event], None] | None = None,
        on_net: Callable[[str, bool], None] | None = None,
        stash: str | Path | None = None,
    ) -> None:
        """``stash``: where removed devices are kept (default: a temporary
        folder, removed on exit); give one to keep them across processes
        (each cfgadm run of a lab test is a process of its own)."""
        super().__init__(root)
        self.post = post
        self.on_net = on_net
        self.events: list[Event] = []
        self.writes: list[tuple[str, str]] = []
        self._own_stash = stash is None
        self._stash = Path(stash) if stash else Path(tempfile.mkdtemp(prefix="rcm-fakekernel-"))
        self._stash.mkdir(parents=True, exist_ok=True)
        self._gone: dict[str, tuple[Path, list[tuple[str, str]], str]] = {}
        """folder (relative) -> (its copy, the links into it, its subsystem)"""
        index = self._stash / "gone.json"
        if index.exists():
            for folder, (links, subsystem) in json.loads(index.read_text()).items():
                copy = self._stash / folder.replace("/", "_")
                self._gone[folder] = (copy, [tuple(x) for x in links], subsystem)

    def _save(self) -> None:
        index = {f: (links, sub) for f, (_, links, sub) in self._gone.items()}
        (self._stash / "gone.json").write_text(json.dumps(index))

    def __enter__(self) -> FakeKernel:
        register_kernel(self)
        return self

    def __exit__(self, *exc: object) -> None:
        unregister_kernel(self)
        if self._own_stash:
            shutil.rmtree(self._stash, ignore_errors=True)

    # -- events ------------------------------------------------------------------
    def _emit(self, action: str, subsystem: str, devpath: str, **props: str) -> None:
        event = Event(
            "udev",
            action,
            {"ACTION": action, "SUBSYSTEM": subsystem, "DEVPATH": devpath, **props},
        )
        self.events.append(event)
        if self.post is not None:
            self.post(event)

    # -- taking folders away and back -----------------------------------------------
    def _real(self, rel: str) -> str:
        """``rel`` with symlinks resolved, relative to the root."""
        root = os.path.realpath(self.root)
        return os.path.relpath(os.path.realpath(self.path(rel)), root)

    def _nets_below(self, folder: str) -> list[str]:
        names = []
        for dirpath, dirnames, _ in os.walk(self.path(folder)):
            if os.path.basename(dirpath) == "net":
                names.extend(sorted(dirnames))
        return names

    def _disks_below(self, folder: str) -> list[str]:
        names = []
        for dirpath, _dirs, filenames in os.walk(self.path(folder)):
            if "dev" in filenames and os.path.basename(os.path.dirname(dirpath)) == "block":
                names.append(os.path.basename(dirpath))
            elif "partition" in filenames:
                names.append(os.path.basename(dirpath))
        return sorted(names)

    def _take(self, folder: str, subsystem: str) -> None:
        """Remove ``folder`` and every link into it, stashing both."""
        for ifname in self._nets_below(folder):
            self._emit("remove", "net", f"/{folder}/net/{ifname}", INTERFACE=ifname)
            if self.on_net is not None:
                self.on_net(ifname, False)
        for disk in self._disks_below(folder):
            self._emit("remove", "block", f"/{folder}/block/{disk}", DEVNAME=f"/dev/{disk}")
        links = []
        root = os.path.realpath(self.root)
        inside = os.path.join(root, folder)
        for link_folder in LINK_FOLDERS:
            for name in os.listdir(self.path(link_folder)):
                link = self.path(f"{link_folder}/{name}")
                target = os.path.realpath(link)
                if target == inside or target.startswith(inside + os.sep):
                    links.append((f"{link_folder}/{name}", os.readlink(link)))
                    os.unlink(link)
        copy = self._stash / folder.replace("/", "_")
        shutil.copytree(self.path(folder), copy, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(self.path(folder))
        self._gone[folder] = (copy, links, subsystem)
        self._save()
        self._emit("remove", subsystem, f"/{folder}")

    def _bring(self, folder: str, subsystem: str) -> None:
        copy, links, _ = self._gone.pop(folder)
        self._save()
        shutil.copytree(copy, self.path(folder), symlinks=True)
        shutil.rmtree(copy)
        for rel, target in links:
            os.symlink(target, self.path(rel))
        self._emit("add", subsystem, f"/{folder}")
        for ifname in self._nets_below(folder):
            if self.on_net is not None:
                self.on_net(ifname, True)
            self._emit("add", "net", f"/{folder}/net/{ifname}", INTERFACE=ifname)
        for disk in self._disks_below(folder):
            self._emit("add", "block", f"/{folder}/block/{disk}", DEVNAME=f"/dev/{disk}")

    # -- the write side ------------------------------------------------------------
    def write(self, rel: str, value: str) -> None:
        self.writes.append((rel, value))
        path = self.path(rel)
        if not path.is_file():
            raise SysfsError(errno.ENOENT, f"{path}: cannot write {value!r}: No such file")
        real = self._real(rel)
        folder, _, attr = real.rpartition("/")
        value = value.strip()
        if attr == "remove" and "/pci" in f"/{folder}":
            self._take(folder, "pci")
        elif real == "bus/pci/rescan":
            self._rescan()
        elif attr == "power" and folder.startswith("bus/pci/slots/"):
            self._power(folder, value)
        elif attr == "attention":
            self._set(real, value, ("0", "1", "2"))
        elif attr == "authorized":
            self._authorize(folder, value)
        elif attr == "online" and folder.startswith("devices/system/cpu/"):
            self._set(real, value, ("0", "1"))
            self._emit("online" if value == "1" else "offline", "cpu", f"/{folder}")
        elif attr == "state" and folder.startswith("devices/system/memory/"):
            self._memory(folder, value)
        elif attr == "delete" and (self.path(folder) / "scsi_device").exists():
            self._take(folder, "scsi")
        elif attr == "scan" and "/scsi_host/" in real:
            self._scan(folder)
        else:
            self._set(real, value, None)

    def _set(self, real: str, value: str, allowed: tuple[str, ...] | None) -> None:
        if allowed is not None and value not in allowed:
            raise SysfsError(
                errno.EINVAL, f"{self.path(real)}: cannot write {value!r}: Invalid argument"
            )
        self.path(real).write_text(value + "\n")

    def _slot_powered(self, folder: str) -> bool:
        address = os.path.basename(folder).rpartition(".")[0]
        for slot in os.listdir(self.path("bus/pci/slots")):
            if self.read(f"bus/pci/slots/{slot}/address") == address:
                return self.read(f"bus/pci/slots/{slot}/power") != "0"
        return True

    def _rescan(self) -> None:
        for folder in sorted(self._gone):
            if self._gone[folder][2] == "pci" and self._slot_powered(folder):
                self._bring(folder, "pci")

    def _power(self, slot: str, value: str) -> None:
        self._set(f"{slot}/power", value, ("0", "1"))
        address = self.read(f"{slot}/address")
        if value == "0":
            for fn in os.listdir(self.path("bus/pci/devices")):
                if fn.rpartition(".")[0] == address:
                    self._take(self._real(f"bus/pci/devices/{fn}"), "pci")
        else:  # pciehp enumerates the card when the slot is powered
            for folder in sorted(self._gone):
                if (
                    self._gone[folder][2] == "pci"
                    and os.path.basename(folder).rpartition(".")[0] == address
                ):
                    self._bring(folder, "pci")

    def _authorize(self, device: str, value: str) -> None:
        self._set(f"{device}/authorized", value, ("0", "1"))
        for entry in sorted(os.listdir(self.path(device))):
            interface = f"{device}/{entry}"
            if ":" not in entry:
                continue
            net = f"{interface}/net"
            if value == "0" and self.path(net).exists():
                self._take(net, "usb-driver")
            elif value == "1" and net in self._gone:
                self._bring(net, "usb-driver")
        self._emit("change", "usb", f"/{device}", AUTHORIZED=value)

    def _memory(self, block: str, value: str) -> None:
        if value not in ("online", "offline", "online_movable", "online_kernel"):
            raise SysfsError(errno.EINVAL, f"{self.path(block)}/state: Invalid argument")
        if value == "offline" and self.read(f"{block}/removable") == "0":
            raise SysfsError(
                errno.EBUSY,
                f"{self.path(block)}/state: cannot write 'offline': Device or resource busy",
            )
        self._set(f"{block}/state", "offline" if value == "offline" else "online", None)
        self._emit("offline" if value == "offline" else "online", "memory", f"/{block}")

    def _scan(self, host_class: str) -> None:
        host = self._real(f"{host_class}/device")
        for folder in sorted(self._gone):
            if folder.startswith(host + "/"):
                self._bring(folder, "scsi")
