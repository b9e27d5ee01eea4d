"""A fake sysfs tree laid out as the real one, for tests (no root needed).

The layouts are copied from a real /sys: devices live under ``devices/``,
and ``bus/*/devices``, ``class/*`` are relative symlinks into it, exactly as
the kernel makes them, so that the ap classes read the fake tree by the same
paths and symlinks as the real one::

    tree = FakeSysfs(tmp_path / "sys")
    tree.pci_device("0000:00:03.0", net=["nic0"], slot="3")
    tree.cpu(0, online=None)            # no online file, like cpu0
    tree.scsi_disk(0, "0:0:0:0", "sda", partitions=["sda1"])

:class:`rcm_hw.fakekernel.FakeKernel` then reacts to writes into it.
"""

from __future__ import annotations

import os
from pathlib import Path

PCI_ROOT = "devices/pci0000:00"


class FakeSysfs:
    """Builds the tree; every method returns the device folder (relative)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._ifindex = 100
        for folder in (
            "bus/pci/devices",
            "bus/pci/slots",
            "bus/usb/devices",
            "class/net",
            "class/block",
            "class/scsi_host",
            "class/scsi_device",
            "devices/system/cpu",
            "devices/system/memory",
            "devices/virtual/net",
            "devices/virtual/block",
        ):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.file("bus/pci/rescan", "")

    # -- primitives ------------------------------------------------------------
    def file(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + ("\n" if text else ""))

    def link(self, rel: str, target: str) -> None:
        """``rel`` → ``target`` (both relative to the root), as a relative
        symlink, the way sysfs makes them."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        os.symlink(os.path.relpath(self.root / target, path.parent), path)

    def net(self, device: str, ifname: str, mac: str = "02:00:00:00:00:01") -> str:
        """A network interface below ``device`` (its ``net/<ifname>`` folder)."""
        folder = f"{device}/net/{ifname}"
        self._ifindex += 1
        self.file(f"{folder}/ifindex", str(self._ifindex))
        self.file(f"{folder}/address", mac)
        self.file(f"{folder}/operstate", "up")
        self.link(f"{folder}/device", device)
        self.link(f"class/net/{ifname}", folder)
        return folder

    # -- PCI -------------------------------------------------------------------
    def pci_device(
        self,
        address: str,
        *,
        pci_class: str = "0x020000",
        vendor: str = "0x8086",
        device: str = "0x100e",
        driver: str | None = "e1000",
        net: list[str] = (),  # type: ignore[assignment]
        virtio: bool = False,
        slot: str | None = None,
    ) -> str:
        """A PCI function; its NICs directly below it, or below a virtio
        child (``virtio2/net/eth0``) as virtio-net lays them out."""
        folder = f"{PCI_ROOT}/{address}"
        for name, text in (
            ("vendor", vendor),
            ("device", device),
            ("class", pci_class),
            ("remove", ""),
            ("rescan", ""),
            ("enable", "1"),
        ):
            self.file(f"{folder}/{name}", text)
        self.link(f"{folder}/subsystem", "bus/pci")
        if driver:
            self.file(f"bus/pci/drivers/{driver}/uevent", f"DRIVER={driver}")
            self.link(f"{folder}/driver", f"bus/pci/drivers/{driver}")
        self.link(f"bus/pci/devices/{address}", folder)
        below = f"{folder}/virtio0" if virtio else folder
        for i, ifname in enumerate(net):
            self.net(below, ifname, f"02:00:00:00:{int(address[-4:-2], 16):02x}:{i:02x}")
        if slot is not None:
            self.pci_slot(slot, address.rpartition(".")[0])
        return folder

    def pci_slot(
        self,
        name: str,
        address: str,
        *,
        power: str = "1",
        adapter: str = "1",
        attention: bool = True,
    ) -> str:
        folder = f"bus/pci/slots/{name}"
        self.file(f"{folder}/address", address)
        self.file(f"{folder}/power", power)
        self.file(f"{folder}/adapter", adapter)
        if attention:
            self.file(f"{folder}/attention", "0")
        return folder

    # -- USB -------------------------------------------------------------------
    def usb_device(
        self,
        port: str,
        *,
        product: str = "USB 10/100 LAN",
        manufacturer: str = "Realtek",
        ids: tuple[str, str] = ("0bda", "8152"),
        net: list[str] = (),  # type: ignore[assignment]
    ) -> str:
        bus = port.split("-")[0]
        hub = f"{PCI_ROOT}/0000:00:14.0/usb{bus}"
        if not (self.root / hub).exists():
            self.file(f"{hub}/authorized", "1")
            self.link(f"bus/usb/devices/usb{bus}", hub)
        folder = f"{hub}/{port}"
        for name, text in (
            ("authorized", "1"),
            ("idVendor", ids[0]),
            ("idProduct", ids[1]),
            ("product", product),
            ("manufacturer", manufacturer),
            ("bDeviceClass", "00"),
        ):
            self.file(f"{folder}/{name}", text)
        self.link(f"bus/usb/devices/{port}", folder)
        interface = f"{folder}/{port}:1.0"
        self.file(f"{interface}/bInterfaceClass", "ff")
        self.link(f"bus/usb/devices/{port}:1.0", interface)
        for i, ifname in enumerate(net):
            self.net(interface, ifname, f"02:00:00:00:aa:{i:02x}")
        return folder

    # -- CPUs and memory -------------------------------------------------------
    def cpu(self, n: int, online: bool | None = True, core: int | None = None) -> str:
        """``online=None``: no online file (the kernel cannot offline it)."""
        folder = f"devices/system/cpu/cpu{n}"
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        if online is not None:
            self.file(f"{folder}/online", "1" if online else "0")
        self.file(f"{folder}/topology/core_id", str(n if core is None else core))
        self.file(f"{folder}/topology/physical_package_id", "0")
        return folder

    def memory_block(
        self,
        n: int,
        *,
        state: str = "online",
        removable: bool = True,
        zones: str = "Movable",
        block_size: int = 0x8000000,
    ) -> str:
        self.file("devices/system/memory/block_size_bytes", f"{block_size:x}")
        folder = f"devices/system/memory/memory{n}"
        self.file(f"{folder}/state", state)
        self.file(f"{folder}/removable", "1" if removable else "0")
        self.file(f"{folder}/valid_zones", zones)
        self.file(f"{folder}/phys_index", f"{n:08x}")
        return folder

    # -- SCSI and block --------------------------------------------------------
    def scsi_host(self, host: int, proc_name: str = "ahci") -> str:
        folder = f"{PCI_ROOT}/0000:00:1f.2/ata{host + 1}/host{host}"
        self.file(f"{folder}/uevent", "DEVTYPE=scsi_host")
        cls = f"{folder}/scsi_host/host{host}"
        self.file(f"{cls}/scan", "")
        self.file(f"{cls}/proc_name", proc_name)
        self.link(f"{cls}/device", folder)
        self.link(f"class/scsi_host/host{host}", cls)
        return folder

    def scsi_disk(
        self,
        hctl: str,
        disk: str,
        *,
        partitions: list[str] = (),  # type: ignore[assignment]
        vendor: str = "ATA",
        model: str = "QEMU HARDDISK",
        major: int = 8,
    ) -> str:
        host = int(hctl.split(":")[0])
        host_folder = self.scsi_host_folder(host)
        h, c, t, _ = hctl.split(":")
        folder = f"{host_folder}/target{h}:{c}:{t}/{hctl}"
        for name, text in (
            ("delete", ""),
            ("state", "running"),
            ("vendor", vendor),
            ("model", model),
            ("type", "0"),
        ):
            self.file(f"{folder}/{name}", text)
        cls = f"{folder}/scsi_device/{hctl}"
        self.link(f"{cls}/device", folder)
        self.link(f"class/scsi_device/{hctl}", cls)
        minor = 16 * (ord(disk[-1]) - ord("a"))
        self.block(f"{folder}/block/{disk}", disk, f"{major}:{minor}")
        for i, part in enumerate(partitions, start=1):
            self.block(f"{folder}/block/{disk}/{part}", part, f"{major}:{minor + i}", partition=i)
        return folder

    def scsi_host_folder(self, host: int) -> str:
        folder = f"{PCI_ROOT}/0000:00:1f.2/ata{host + 1}/host{host}"
        if not (self.root / folder).exists():
            self.scsi_host(host)
        return folder

    def block(self, folder: str, name: str, dev: str, partition: int | None = None) -> str:
        self.file(f"{folder}/dev", dev)
        self.file(f"{folder}/size", "2097152")
        (self.root / folder / "holders").mkdir(parents=True, exist_ok=True)
        (self.root / folder / "slaves").mkdir(parents=True, exist_ok=True)
        if partition is not None:
            self.file(f"{folder}/partition", str(partition))
        self.link(f"class/block/{name}", folder)
        return folder

    def holder(self, name: str, dev: str, slaves: list[str], dm_name: str | None = None) -> str:
        """A device-mapper (``dm-0``, with ``dm_name``) or md (``md0``)
        device built on ``slaves``: ``<slave>/holders/<name>`` and
        ``<name>/slaves/<slave>`` link them, as in real sysfs."""
        folder = f"devices/virtual/block/{name}"
        self.block(folder, name, dev)
        if dm_name is not None:
            self.file(f"{folder}/dm/name", dm_name)
        for slave in slaves:
            slave_folder = os.path.relpath(
                os.path.realpath(self.root / "class/block" / slave), self.root
            )
            self.link(f"{slave_folder}/holders/{name}", folder)
            self.link(f"{folder}/slaves/{slave}", slave_folder)
        return folder
