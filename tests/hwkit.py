"""A fake machine for the hardware tests: a sysfs tree laid out as the real
one, a fake kernel that reacts to writes, fake /proc files, and the real
engine (every installed plugin, as cfgadm loads them) configured to read them.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rcm_hw.fakekernel import FakeKernel
from rcm_hw.faketree import FakeSysfs

import cfgadm.cli as cli


class Machine:
    """Folders of one fake machine under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sys = root / "sys"
        self.proc = root / "proc"
        self.tree = FakeSysfs(self.sys)
        (self.proc / "self").mkdir(parents=True)
        self.mounts([])
        self.swaps([])
        self.config = root / "etc"
        self.config.mkdir()
        (self.config / "rcm.toml").write_text(
            f'[plugins.hw]\nsysfs = "{self.sys}"\nproc = "{self.proc}"\n'
        )
        self.env = {
            "RCM_CONFIG_DIR": str(self.config),
            "RCM_STATE_DIR": str(root / "state"),
            "RCM_RUNTIME_DIR": str(root / "run"),
        }

    def mounts(self, entries: list[tuple[str, str, str]]) -> None:
        """(major:minor, mount point, fstype) as mountinfo(5) lines."""
        lines = [
            f"{20 + i} 1 {dev} / {point.replace(' ', chr(92) + '040')} rw,relatime - {fs} /dev/x rw"
            for i, (dev, point, fs) in enumerate(entries)
        ]
        (self.proc / "self" / "mountinfo").write_text("".join(line + "\n" for line in lines))

    def swaps(self, names: list[str]) -> None:
        text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        text += "".join(
            f"{n}                               partition\t1048572\t\t0\t\t-2\n" for n in names
        )
        (self.proc / "swaps").write_text(text)

    def process(self, pid: int, name: str, cpus: str) -> None:
        folder = self.proc / str(pid)
        folder.mkdir()
        (folder / "status").write_text(
            f"Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t{pid}\n"
            f"Cpus_allowed:\tff\nCpus_allowed_list:\t{cpus}\n"
        )


def standard(machine: Machine) -> None:
    """A small server: a hotplug slot with a NIC, a virtio NIC, a USB NIC,
    three CPUs (cpu0 without an online file), two memory blocks (the first
    not removable) and a SATA disk with two partitions, the second under an
    LVM volume."""
    t = machine.tree
    t.pci_device("0000:00:03.0", net=["nic0"], slot="3")
    t.pci_device("0000:00:04.0", net=["eth9"], virtio=True, device="0x1000", vendor="0x1af4")
    t.pci_slot("4", "0000:00:05", power="0", adapter="1")
    t.pci_slot("5", "0000:00:06", adapter="0", attention=False)
    t.usb_device("1-1", net=["usb0"])
    t.cpu(0, online=None)
    t.cpu(1)
    t.cpu(2)
    t.memory_block(0, removable=False, zones="Normal")
    t.memory_block(1)
    t.scsi_disk("0:0:0:0", "sda", partitions=["sda1", "sda2"])
    t.holder("dm-0", "253:0", ["sda2"], dm_name="vg-data")


def running_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    """For a test module's fixture: the standard machine, cfgadm's folders
    pointed at it, its fake kernel registered for its sysfs root."""
    m = Machine(tmp_path)
    standard(m)
    for key, value in m.env.items():
        monkeypatch.setenv(key, value)
    with FakeKernel(m.sys) as kernel:
        m.kernel = kernel  # type: ignore[attr-defined]
        yield m


def cfgadm(*args: str) -> tuple[int, str, str]:
    """Run cfgadm in this process (no rcmd: the in-process engine, every
    installed plugin); (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(args))
    return status, out.getvalue(), err.getvalue()
