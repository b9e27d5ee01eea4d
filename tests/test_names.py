"""rcm_netkit.names: the one place that spells NIC resources, ap ids and link events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rcm_netkit.names import (
    LinkEvent,
    NetApId,
    NetResource,
    ifname_fault,
    valid_ifname,
)

from rcm.model import Event

BAD = ["", ".", "..", "a/b", "eth0:1", "a b", "a\tb", "a\0b", "a" * 16, "é" * 8]


@pytest.mark.parametrize("name", BAD)
def test_bad_names_parse_to_nothing(name: str) -> None:
    assert not valid_ifname(name) and ifname_fault(name)
    assert NetResource.parse(f"net/{name}") is None
    assert NetApId.parse(f"net:{name}") is None
    with pytest.raises(ValueError):
        NetResource(name)
    with pytest.raises(ValueError):
        NetApId(name)


def test_the_fault_names_the_rule() -> None:
    assert ifname_fault("a" * 16) == f"interface name {'a' * 16!r} is longer than 15 bytes"
    assert ifname_fault("eth0:1") == "interface name 'eth0:1' contains ':'"
    assert ifname_fault("") == "an interface name cannot be empty"


def test_other_resources_and_classes_are_not_nics() -> None:
    assert NetResource.parse("/devices/pci0000:00") is None
    assert NetResource.parse("net/") is None
    assert NetResource.parse("netx/nic0") is None
    assert NetApId.parse("slot:nic0") is None
    assert NetApId.parse("net") is None


def test_resource_and_ap_id_name_each_other() -> None:
    r = NetResource.parse("net/nic0")
    assert r == NetResource("nic0") and str(r) == "net/nic0"
    assert str(r.ap_id) == "net:nic0"
    a = NetApId.parse("net:nic0")
    assert a is not None and a.resource == r and str(a) == "net:nic0"


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/:\0"), min_size=1, max_size=15
).filter(valid_ifname)


@given(names)
def test_round_trip(name: str) -> None:
    assert NetResource.parse(str(NetResource(name))) == NetResource(name)
    assert NetApId.parse(str(NetApId(name))) == NetApId(name)


def test_link_event_round_trip() -> None:
    ev = LinkEvent("nic0", 7, False, True, False, "LOWERLAYERDOWN", "02:00:00:00:00:01")
    back = LinkEvent.from_event(ev.to_event())
    assert back == ev and not back.usable
    assert LinkEvent.from_event(Event(source="udev", action="add", properties={})) is None
    bad = Event(source="netlink", action="link", properties={"IFNAME": "a/b"})
    assert LinkEvent.from_event(bad) is None
