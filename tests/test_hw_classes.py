"""The sysfs ap classes through cfgadm: a fake tree laid out as real sysfs
(symlinks included) and a fake kernel that reacts to writes as Linux does.

Each test runs the real cfgadm with the in-process engine and every
installed plugin, as an admin would without rcmd, and checks what cfgadm
prints, its exit status and what the kernel was told."""

from __future__ import annotations

import os

import pytest
from hwkit import Machine, cfgadm, running_machine

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cfgadm -c needs root")


@pytest.fixture
def machine(tmp_path, monkeypatch):
    yield from running_machine(tmp_path, monkeypatch)


def rows(out: str) -> dict[str, list[str]]:
    """The listing's rows by ap_id (the cells split on blanks)."""
    return {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}


def test_the_fake_tree_is_read_through_sysfs_symlinks(machine: Machine) -> None:
    link = machine.sys / "bus/pci/devices/0000:00:03.0"
    assert link.is_symlink() and os.readlink(link) == "../../../devices/pci0000:00/0000:00:03.0"
    assert os.readlink(machine.sys / "class/net/nic0") == (
        "../../devices/pci0000:00/0000:00:03.0/net/nic0"
    )
    status, out, _ = cfgadm("-lv", "pcidev:0000:00:03.0")
    assert status == 0
    assert "/devices/pci0000:00/0000:00:03.0" in out  # Phys_Id: the resolved device path


def test_listing_by_ap_type_shows_one_class(machine: Machine) -> None:
    status, out, err = cfgadm("-l", "cpu")
    assert status == 0, err
    assert list(rows(out)) == ["cpu:cpu0", "cpu:cpu1", "cpu:cpu2"]
    assert rows(out)["cpu:cpu1"] == ["cpu:cpu1", "cpu", "connected", "configured", "ok"]


def test_unknown_ap_type_or_ap_is_not_found(machine: Machine) -> None:
    status, _, err = cfgadm("-l", "floppy")
    assert status == 1 and err.strip() == "cfgadm: Attachment point not found: floppy"
    status, _, err = cfgadm("-c", "unconfigure", "cpu:cpu9")
    assert status == 1 and err.strip() == "cfgadm: Attachment point not found: cpu:cpu9"


def test_pci_slot_receptacles(machine: Machine) -> None:
    status, out, _ = cfgadm("-l", "pci")
    assert status == 0
    got = {k: v[1:5] for k, v in rows(out).items()}
    assert got == {
        "pci:3": ["ethernet/hp", "connected", "configured", "ok"],
        "pci:4": ["unknown", "disconnected", "unconfigured", "unknown"],
        "pci:5": ["unknown", "empty", "unconfigured", "unknown"],
    }


def test_dynamic_aps_only_with_a(machine: Machine) -> None:
    _, plain, _ = cfgadm("-l", "pci", "scsi")
    _, everything, _ = cfgadm("-a", "pci", "scsi")
    assert "pci:3::nic0" not in plain and "scsi:host0::0:0:0:0" not in plain
    listed = list(rows(everything))
    assert listed.index("pci:3::nic0") == listed.index("pci:3") + 1
    assert rows(everything)["scsi:host0::0:0:0:0"][1:5] == ["disk", "connected", "configured", "ok"]


def test_pci_device_unconfigure_removes_it_and_configure_rescans(machine: Machine) -> None:
    status, out, err = cfgadm("-c", "unconfigure", "pcidev:0000:00:04.0")
    assert status == 0, err
    assert not (machine.sys / "devices/pci0000:00/0000:00:04.0").exists()
    assert not os.path.lexists(machine.sys / "class/net/eth9")
    kernel = machine.kernel  # type: ignore[attr-defined]
    assert ("bus/pci/devices/0000:00:04.0/remove", "1") in kernel.writes
    assert [(e.action, e.get("SUBSYSTEM"), e.get("INTERFACE")) for e in kernel.events] == [
        ("remove", "net", "eth9"),
        ("remove", "pci", ""),
    ]
    # Gone from sysfs, still listed (remembered) so that it can be configured again.
    _, out, _ = cfgadm("-l", "pcidev:0000:00:04.0")
    assert rows(out)["pcidev:0000:00:04.0"][2:5] == ["connected", "unconfigured", "unknown"]
    status, _, err = cfgadm("-c", "unconfigure", "pcidev:0000:00:04.0")
    assert status == 1 and "Insufficient condition" in err
    status, _, err = cfgadm("-c", "configure", "pcidev:0000:00:04.0")
    assert status == 0, err
    assert ("bus/pci/rescan", "1") in kernel.writes
    assert os.path.lexists(machine.sys / "class/net/eth9")
    _, out, _ = cfgadm("-l", "pcidev:0000:00:04.0")
    assert rows(out)["pcidev:0000:00:04.0"][2:5] == ["connected", "configured", "ok"]


def test_pci_device_cannot_connect(machine: Machine) -> None:
    status, _, err = cfgadm("-c", "disconnect", "pcidev:0000:00:03.0")
    assert status == 2 and "not supported" in err


def test_pci_slot_disconnect_and_connect_power_it(machine: Machine) -> None:
    status, _, err = cfgadm("-c", "disconnect", "pci:3")
    assert status == 0, err
    assert (machine.sys / "bus/pci/slots/3/power").read_text() == "0\n"
    _, out, _ = cfgadm("-l", "pci:3")
    assert rows(out)["pci:3"][2:4] == ["disconnected", "unconfigured"]
    status, _, err = cfgadm("-c", "configure", "pci:3")
    assert status == 0, err
    assert (machine.sys / "bus/pci/slots/3/power").read_text() == "1\n"
    _, out, _ = cfgadm("-l", "pci:3")
    assert rows(out)["pci:3"][2:4] == ["connected", "configured"]


def test_configure_an_empty_slot_is_insufficient_condition(machine: Machine) -> None:
    status, _, err = cfgadm("-c", "configure", "pci:5")
    assert status == 1
    assert err.strip() == "cfgadm: Insufficient condition: pci:5: the slot is empty"


@pytest.mark.parametrize(("mode", "value"), [("on", "1"), ("blink", "2"), ("off", "0")])
def test_attention_led(machine: Machine, mode: str, value: str) -> None:
    status, out, err = cfgadm("-x", f"led=attention,{mode}", "pci:3")
    assert status == 0, err
    assert out.strip() == f"pci:3: attention indicator {mode}"
    assert (machine.sys / "bus/pci/slots/3/attention").read_text() == value + "\n"


def test_led_refusals(machine: Machine) -> None:
    status, _, err = cfgadm("-x", "led=attention,disco", "pci:3")
    assert status == 2 and "led=attention,on|off|blink" in err
    status, _, err = cfgadm("-x", "led=attention,on", "pci:5")  # no attention file
    assert status == 2 and "no attention indicator" in err
    status, _, err = cfgadm("-x", "led=attention,on", "cpu:cpu1")
    assert status == 2 and "Hardware specific function not supported: led" in err
    assert (machine.sys / "bus/pci/slots/3/attention").read_text() == "0\n"


def test_class_help(machine: Machine) -> None:
    status, out, _ = cfgadm("-h", "pci")
    assert status == 0
    assert out.startswith("Usage: cfgadm")
    assert "led=attention,on|off|blink" in out and "cpu:cpu<N>" not in out
    status, _, err = cfgadm("-h", "floppy")
    assert status == 1 and "Attachment point type not found: floppy" in err


def test_usb_authorized(machine: Machine) -> None:
    status, _, err = cfgadm("-c", "unconfigure", "usb:1-1")
    assert status == 0, err
    assert (machine.sys / "bus/usb/devices/1-1/authorized").read_text() == "0\n"
    assert not os.path.lexists(machine.sys / "class/net/usb0")  # its driver was unbound
    _, out, _ = cfgadm("-l", "usb")
    assert rows(out)["usb:1-1"][2:4] == ["connected", "unconfigured"]
    status, _, err = cfgadm("-c", "configure", "usb:1-1")
    assert status == 0, err
    assert os.path.lexists(machine.sys / "class/net/usb0")


def test_cpu_without_online_file_is_not_offlinable(machine: Machine) -> None:
    status, out, err = cfgadm("-lv", "cpu:cpu0")
    assert "cannot be taken offline (no online file)" in out
    status, _, err = cfgadm("-c", "unconfigure", "cpu:cpu0")
    assert status == 2
    assert err.startswith("cfgadm: Configuration operation not supported: cpu:cpu0 cannot be")


def test_cpu_offline_and_online(machine: Machine) -> None:
    status, _, err = cfgadm("-c", "unconfigure", "cpu:cpu2")
    assert status == 0, err
    assert (machine.sys / "devices/system/cpu/cpu2/online").read_text() == "0\n"
    _, out, _ = cfgadm("-l", "cpu:cpu2")
    assert rows(out)["cpu:cpu2"][3:5] == ["unconfigured", "unknown"]
    assert cfgadm("-c", "configure", "cpu:cpu2")[0] == 0
    assert (machine.sys / "devices/system/cpu/cpu2/online").read_text() == "1\n"


def test_memory_block_offline(machine: Machine) -> None:
    _, listed, _ = cfgadm("-lv", "mem")
    assert "128 MiB at 0x8000000" in listed and "zones" not in listed
    _, out, _ = cfgadm("-lv", "mem:memory1")  # one ap: valid_zones too
    assert "128 MiB at 0x8000000, removable, zones Movable" in out
    status, _, err = cfgadm("-c", "unconfigure", "mem:memory1")
    assert status == 0, err
    assert (machine.sys / "devices/system/memory/memory1/state").read_text() == "offline\n"


def test_scsi_delete_and_scan(machine: Machine) -> None:
    status, _, err = cfgadm("-c", "unconfigure", "scsi:host0::0:0:0:0")
    assert status == 0, err
    assert not os.path.lexists(machine.sys / "class/block/sda")
    _, out, _ = cfgadm("-a", "scsi")
    assert rows(out)["scsi:host0"][3] == "unconfigured"
    assert rows(out)["scsi:host0::0:0:0:0"][3] == "unconfigured"  # remembered
    status, _, err = cfgadm("-c", "configure", "scsi:host0")
    assert status == 0, err
    kernel = machine.kernel  # type: ignore[attr-defined]
    assert kernel.writes[-1] == ("class/scsi_host/host0/scan", "- - -")
    assert os.path.lexists(machine.sys / "class/block/sda1")
    _, out, _ = cfgadm("-a", "scsi")
    assert rows(out)["scsi:host0::0:0:0:0"][2:5] == ["connected", "configured", "ok"]


def test_a_failed_write_is_reported_and_rolled_back(machine: Machine) -> None:
    online = machine.sys / "devices/system/cpu/cpu2/online"
    online.unlink()
    online.mkdir()  # the kernel refuses the write
    status, _, err = cfgadm("-c", "unconfigure", "cpu:cpu2")
    assert status == 1
    lines = err.splitlines()
    assert "cpu:cpu2: " in lines[0] and "devices/system/cpu/cpu2/online: cannot write" in lines[0]
    assert lines[1] == "cfgadm: the previous configuration was restored"


def test_busy_while_an_operation_holds_the_ap(machine: Machine) -> None:
    from rcm.coordinator import Coordinator, Operation
    from rcm.model import Action
    from rcm.paths import Paths
    from rcm.plugins import make_plugin_manager
    from rcm.store import Store

    paths = Paths.from_env()
    coordinator = Coordinator(paths, make_plugin_manager(), store=Store(paths.database, True))
    try:
        coordinator.configure()
        op = Operation(99, "cpu:cpu1", Action.UNCONFIGURE, False, ["cpu/1"])
        coordinator.locks.acquire(["cpu:cpu1", "cpu/1"], op)
        listing = coordinator.list_aps(["cpu"], verbose=True)
        assert [(a.ap_id, a.busy) for a in listing.aps] == [
            ("cpu:cpu0", False),
            ("cpu:cpu1", True),
            ("cpu:cpu2", False),
        ]
    finally:
        coordinator.stop()


def test_only_root_runs_class_functions(machine: Machine, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    status, _, err = cfgadm("-x", "led=attention,on", "pci:3")
    assert status == 1
    assert err.strip() == "cfgadm: permission denied: only root may run hardware specific functions"
    assert (machine.sys / "bus/pci/slots/3/attention").read_text() == "0\n"
    assert cfgadm("-l", "pci")[0] == 0  # anyone may list
