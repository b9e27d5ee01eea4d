"""The storage and CPU handlers, and the graph below an ap, through cfgadm
against a fake machine (tests/hwkit.py): mountinfo, swaps and /proc/<pid>
are fake files read exactly as the real ones are."""

from __future__ import annotations

import os

import pytest
from hwkit import Machine, cfgadm, running_machine

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cfgadm -c needs root")

DISK = "scsi:host0::0:0:0:0"


def flat(text: str) -> str:
    """The text with every run of blanks and line breaks as one blank (the
    veto table wraps its Information column)."""
    return " ".join(text.split())


@pytest.fixture
def machine(tmp_path, monkeypatch):
    yield from running_machine(tmp_path, monkeypatch)


def test_lv_shows_the_tree_under_an_ap_with_usage_lines(machine: Machine) -> None:
    machine.mounts([("8:1", "/boot", "ext4"), ("253:0", "/srv/my data", "xfs")])
    status, out, _ = cfgadm("-lv", DISK)
    assert status == 0
    col = out.splitlines()[0].index("Information")
    info = [line[col:] for line in out.splitlines()[1:]]
    assert info == [
        "ATA QEMU HARDDISK (sda)",
        "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0",
        "block/sda",
        "  block/sda1",
        "    sda1: mounted on /boot (ext4) (storage)",
        "  block/sda2",
        "    block/dm-0",
        "      dm-0 (vg-data): mounted on /srv/my data (xfs) (storage)",
    ]


def test_mounted_filesystem_vetoes_at_data_naming_the_path(machine: Machine) -> None:
    machine.mounts([("253:0", "/srv/data", "xfs")])
    status, _, err = cfgadm("-c", "unconfigure", DISK)
    assert status == 1
    assert err.startswith(f"cfgadm: Component system is busy, try again: unconfigure {DISK}")
    assert "block/dm-0  data      storage    dm-0 (vg-data): mounted filesystem /srv/data" in err
    assert err.rstrip().endswith("use -f to override")
    assert os.path.lexists(machine.sys / "class/block/sda")  # nothing was deleted


def test_force_deletes_but_never_unmounts(machine: Machine) -> None:
    machine.mounts([("8:1", "/boot", "ext4")])
    before = (machine.proc / "self/mountinfo").read_text()
    status, _, err = cfgadm("-f", "-c", "unconfigure", DISK)
    assert status == 0, err
    assert "-f overrode" in err and "sda1: mounted filesystem /boot" in err
    assert (machine.proc / "self/mountinfo").read_text() == before
    kernel = machine.kernel  # type: ignore[attr-defined]
    assert [w for w, _ in kernel.writes] == ["class/scsi_device/0:0:0:0/device/delete"]


@pytest.mark.parametrize("point", ["/", "/usr", "/var"])
def test_system_filesystems_cannot_be_forced(machine: Machine, point: str) -> None:
    machine.mounts([("8:1", point, "ext4")])
    status, _, err = cfgadm("-f", "-c", "unconfigure", DISK)
    assert status == 1
    assert f"block/sda1 system storage sda1: mounted filesystem {point}: the system runs" in flat(
        err
    )
    assert "-f cannot override a system veto" in err
    assert os.path.lexists(machine.sys / "class/block/sda")


def test_active_swap_is_a_system_veto(machine: Machine) -> None:
    machine.swaps(["/dev/mapper/vg-data"])
    status, out, _ = cfgadm("-lv", DISK)
    assert "dm-0 (vg-data): active swap (storage)" in out
    status, _, err = cfgadm("-f", "-c", "unconfigure", DISK)
    assert status == 1 and "dm-0 (vg-data): active swap" in err


def test_nothing_mounted_means_no_veto(machine: Machine) -> None:
    machine.mounts([("8:32", "/elsewhere", "ext4")])  # another disk
    status, _, err = cfgadm("-c", "unconfigure", DISK)
    assert status == 0, err


def test_the_host_asks_about_every_disk(machine: Machine) -> None:
    machine.mounts([("8:2", "/home", "ext4")])
    status, _, err = cfgadm("-c", "unconfigure", "scsi:host0")
    assert status == 1 and "sda2: mounted filesystem /home" in err


def test_last_online_cpu_is_refused(machine: Machine) -> None:
    (machine.sys / "devices/system/cpu/cpu0").rename(machine.sys / "devices/system/cpu/gone0")
    assert cfgadm("-c", "unconfigure", "cpu:cpu1")[0] == 0
    status, _, err = cfgadm("-f", "-c", "unconfigure", "cpu:cpu2")
    assert status == 1
    assert "cpu/2 system cpu cpu 2 is the last online CPU" in flat(err)
    assert (machine.sys / "devices/system/cpu/cpu2/online").read_text() == "1\n"


def test_pinned_processes_are_a_warning_naming_them(machine: Machine) -> None:
    machine.process(4242, "dpdk-worker", "2")
    machine.process(4243, "spread", "0-2")
    machine.process(4244, "irq-pinned", "1")
    status, out, _ = cfgadm("-lv", "cpu:cpu2")
    assert "cpu 2: online, 1 process(es) pinned to it alone" in out
    status, _, err = cfgadm("-c", "unconfigure", "cpu:cpu2")
    assert status == 0  # a warning does not stop it
    assert "unconfigure cpu:cpu2 done, with warnings:" in err
    assert "cpu/2 warning cpu cpu 2: processes pinned to it alone: 4242 (dpdk-worker)" in flat(err)
    assert "spread" not in err and "irq-pinned" not in err


def test_memory_not_removable_is_refused(machine: Machine) -> None:
    status, _, err = cfgadm("-f", "-c", "unconfigure", "mem:memory0")
    assert status == 1
    assert "memory/0 system cpu memory block 0 is in use by the kernel (not removable)" in flat(err)
    assert (machine.sys / "devices/system/memory/memory0/state").read_text() == "online\n"


def test_roots_are_checked(tmp_path, monkeypatch) -> None:
    m = Machine(tmp_path)
    (m.config / "rcm.toml").write_text('[plugins.hw]\nsysfs = "sys"\n')
    monkeypatch.setenv("RCM_CONFIG_DIR", str(m.config))
    monkeypatch.setenv("RCM_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("RCM_RUNTIME_DIR", str(tmp_path / "r"))
    status, _, err = cfgadm("-l")
    assert status == 1
    assert err.strip() == (
        f"cfgadm: {m.config}/rcm.toml: plugins.hw.sysfs: must be an absolute path, not 'sys'"
    )
    (m.config / "rcm.toml").write_text('[plugins.hw]\nsysfs_root = "/sys"\n')
    status, _, err = cfgadm("-l")
    assert status == 1 and "plugins.hw.sysfs_root: unknown key (known: sysfs, proc" in err
