"""The admin's udev policy (RCM_IGNORE, RCM_PROTECT), read from a fake udev database.

There is no udevd here, so the database is a folder laid out as udev lays out
/run/udev/data (one file per device, named by libudev's device id, ``E:KEY=value`` lines),
next to a fake sysfs tree with the symlinks real sysfs has.  The engine reads both through
``[udev] database`` and ``[udev] sysfs``.  The same policy against the real kernel (a net:
ap vetoed in a lab cfgadm): tests/test_cfgadm_lab.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from enginekit import Recorder, SlotBackend, SlotPlugin, make_slots

from rcm.coordinator import Coordinator
from rcm.errors import ConfigError
from rcm.model import Action, Impact, Outcome
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.settings import load_settings
from rcm.udevdb import UdevDatabase, device_id, parse_db
from rcm.udevpolicy import UdevPolicy

PCI = "devices/pci0000:00/0000:00:03.0"


def link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """A PCI NIC (eth1, ifindex 7) under a PCI device, a virtual NIC (nic0, ifindex 3), a
    disk (sda, 8:0), and two slots for the engine's slot: class, laid out as sysfs is."""
    root = tmp_path / "sys"
    for bus in ("pci", "slotbus"):
        (root / "bus" / bus / "devices").mkdir(parents=True)
    (root / "class" / "net").mkdir(parents=True)
    (root / "class" / "block").mkdir(parents=True)
    pci = root / PCI
    pci.mkdir(parents=True)
    link(pci / "subsystem", "../../../bus/pci")
    link(root / "bus/pci/devices/0000:00:03.0", "../../../" + PCI)
    eth1 = pci / "net" / "eth1"
    eth1.mkdir(parents=True)
    link(eth1 / "subsystem", "../../../../../class/net")
    (eth1 / "ifindex").write_text("7\n")
    link(root / "class/net/eth1", "../../" + PCI + "/net/eth1")
    nic0 = root / "devices/virtual/net/nic0"
    nic0.mkdir(parents=True)
    link(nic0 / "subsystem", "../../../../class/net")
    (nic0 / "ifindex").write_text("3\n")
    link(root / "class/net/nic0", "../../devices/virtual/net/nic0")
    sda = pci / "host0/target0:0:0/0:0:0:0/block/sda"
    sda.mkdir(parents=True)
    link(sda / "subsystem", "../../../../../../../../class/block")
    (sda / "dev").write_text("8:0\n")
    link(root / "dev/block/8:0", "../../" + PCI + "/host0/target0:0:0/0:0:0:0/block/sda")
    for slot in ("s1", "s2"):
        d = root / "devices" / slot
        d.mkdir(parents=True)
        link(d / "subsystem", "../../bus/slotbus")
        link(root / "bus/slotbus/devices" / slot, "../../../devices/" + slot)
    return root


@pytest.fixture
def db(tmp_path: Path) -> Path:
    d = tmp_path / "udevdata"
    d.mkdir()
    return d


def write(db: Path, ident: str, **props: str) -> None:
    lines = ["S:disk/by-id/whatever", "I:1234567", *(f"E:{k}={v}" for k, v in props.items())]
    (db / ident).write_text("\n".join([*lines, "G:systemd", "Q:systemd", "V:1"]) + "\n")


# --------------------------------------------------------------------------- the database


def test_device_ids_are_libudev_s(sysfs: Path) -> None:
    assert device_id(sysfs / "class/net/eth1") == "n7"
    assert device_id(Path(os.path.realpath(sysfs / "dev/block/8:0"))) == "b8:0"
    assert device_id(sysfs / PCI) == "+pci:0000:00:03.0"
    assert device_id(sysfs / "devices" / "nowhere") is None


def test_parse_db_reads_only_properties() -> None:
    text = "S:by-id/x\nE:ID_NET_NAME=eth1\nE:RCM_REASON=a=b, c\nG:systemd\nE:bad\nW:1\n"
    assert parse_db(text) == {"ID_NET_NAME": "eth1", "RCM_REASON": "a=b, c"}


def test_device_of_id_finds_each_kind(sysfs: Path, db: Path) -> None:
    udev = UdevDatabase(db, sysfs)
    pci = Path(os.path.realpath(sysfs / PCI))
    assert udev.device_of_id("n7") == pci / "net/eth1"
    assert udev.device_of_id("b8:0") == pci / "host0/target0:0:0/0:0:0:0/block/sda"
    assert udev.device_of_id("+pci:0000:00:03.0") == pci
    assert udev.device_of_id("n99") is None


# --------------------------------------------------------------------------- the policy


def test_protect_vetoes_the_device_and_what_it_sits_under(sysfs: Path, db: Path) -> None:
    write(db, "n7", RCM_PROTECT="system", RCM_REASON="eth1 carries the iSCSI root")
    policy = UdevPolicy(UdevDatabase(db, sysfs))
    (own,) = policy.vetoes("net/eth1")
    assert (own.reason, own.impact, own.resource, own.handler) == (
        "eth1 carries the iSCSI root",
        Impact.SYSTEM,
        "net/eth1",
        "udev",
    )
    (under,) = policy.vetoes("/" + PCI)  # the PCI device the NIC sits on
    assert under.reason == "eth1 carries the iSCSI root (eth1 is under it)"
    assert under.impact is Impact.SYSTEM and under.resource == "/" + PCI
    assert policy.vetoes("net/nic0") == []  # a sibling, not under it
    (line,) = policy.usage("/" + PCI)
    assert line.info == (
        "eth1: protected by udev rule (RCM_PROTECT=system): eth1 carries the iSCSI root"
    )


def test_protect_data_and_a_disk_under_a_pci_device(sysfs: Path, db: Path) -> None:
    write(db, "b8:0", RCM_PROTECT="data", RCM_REASON="sda holds /srv")
    policy = UdevPolicy(UdevDatabase(db, sysfs))
    assert [(v.impact, v.reason) for v in policy.vetoes("/" + PCI)] == [
        (Impact.DATA, "sda holds /srv (sda is under it)")
    ]


def test_unreadable_level_protects_as_system(sysfs: Path, db: Path) -> None:
    write(db, "n3", RCM_PROTECT="critical")
    (veto,) = UdevPolicy(UdevDatabase(db, sysfs)).vetoes("net/nic0")
    assert veto.impact is Impact.SYSTEM
    assert "RCM_PROTECT='critical' is not data or system: read as system" in veto.reason
    assert veto.reason.startswith("protected by a udev rule")


def test_ignore(sysfs: Path, db: Path) -> None:
    write(db, "n3", RCM_IGNORE="1")
    policy = UdevPolicy(UdevDatabase(db, sysfs))
    assert policy.ignored("net/nic0") and not policy.ignored("net/eth1")
    assert not policy.ignored("ip/192.0.2.10")  # no udev device: no policy


def test_no_database_no_policy(sysfs: Path, tmp_path: Path) -> None:
    policy = UdevPolicy(UdevDatabase(tmp_path / "absent", sysfs))
    assert policy.vetoes("/" + PCI) == [] and not policy.ignored("net/eth1")


def test_settings_take_the_folders(tmp_path: Path) -> None:
    toml = tmp_path / "rcm.toml"
    toml.write_text('[udev]\ndatabase = "/x/data"\nsysfs = "/x/sys"\n')
    policy = UdevPolicy.from_settings(load_settings(toml))
    assert policy.db.database == Path("/x/data") and policy.db.sysfs == Path("/x/sys")
    toml.write_text('[udev]\ndatabase = "relative"\n')
    with pytest.raises(ConfigError, match="udev.database: must be an absolute path"):
        load_settings(toml)


# --------------------------------------------------------------------------- in the engine


def engine(tmp_path: Path, sysfs: Path, db: Path, handlers: dict) -> Coordinator:
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    backend = SlotBackend(make_slots(tmp_path / "slots", "s1", "s2"))
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), *handlers.items()]
    )
    settings = {"handlers": {"timeout": 5.0}, "udev": {"database": str(db), "sysfs": str(sysfs)}}
    coord = Coordinator(paths, pm, settings=settings)
    coord.start()
    return coord


def test_engine_vetoes_a_protected_device_at_its_level(tmp_path, sysfs, db) -> None:
    write(db, "+slotbus:s1", RCM_PROTECT="data", RCM_REASON="s1 feeds the database")
    log = tmp_path / "calls.log"
    c = engine(tmp_path, sysfs, db, {"a": Recorder(log, ["/devices/s1"])})
    try:
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
        assert r.outcome is Outcome.VETOED and r.overridable
        assert [(v.handler, v.impact, v.reason) for v in r.vetoes] == [
            ("udev", Impact.DATA, "s1 feeds the database")
        ]
        assert (tmp_path / "slots/s1/present").read_text().strip() == "1"
        assert [a["handler"] for a in r.answers] == ["udev", "a"]
        # -f gets past a data protection
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=True)
        assert r.outcome is Outcome.DONE and [v.handler for v in r.forced_past] == ["udev"]
    finally:
        c.stop()


def test_engine_system_protection_of_a_dependent_blocks_even_forced(tmp_path, sysfs, db) -> None:
    """A handler maps the slot to a NIC it carries (a dependent): the NIC's protection
    holds, and the dry-run tree shows the NIC under the slot."""
    write(db, "n7", RCM_PROTECT="system", RCM_REASON="storage network")
    log = tmp_path / "calls.log"
    mapper = Recorder(log, ["/devices/s1"], dependents={"/devices/s1": "net/eth1"})
    c = engine(tmp_path, sysfs, db, {"map": mapper, "ipmp": Recorder(log, ["net/eth1"])})
    try:
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=True, query_only=True)
        assert r.outcome is Outcome.VETOED and not r.overridable
        assert [(v.resource, v.handler, v.impact) for v in r.vetoes] == [
            ("net/eth1", "udev", Impact.SYSTEM)
        ]
        assert r.tree == [
            {"resource": "/devices/s1", "parent": None},
            {"resource": "net/eth1", "parent": "/devices/s1"},
        ]
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=True)
        assert r.outcome is Outcome.VETOED
        assert (tmp_path / "slots/s1/present").read_text().strip() == "1"
    finally:
        c.stop()


def test_engine_neither_lists_nor_touches_an_ignored_device(tmp_path, sysfs, db) -> None:
    write(db, "+slotbus:s2", RCM_IGNORE="1")
    c = engine(tmp_path, sysfs, db, {})
    try:
        assert [a.ap_id for a in c.list_aps([], False).aps] == ["slot:s1"]
        assert c.list_aps(["slot:s2"], False).missing == ["slot:s2"]
        r = c.change_state(Action.UNCONFIGURE, "slot:s2", force=True)
        assert r.outcome is Outcome.NO_SUCH_AP
        assert (tmp_path / "slots/s2/present").read_text().strip() == "1"
    finally:
        c.stop()
