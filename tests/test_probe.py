"""Probe packets and in.mpathd's rules, without a network: encoding, the
five-lost / ten-answered state machine, and how targets are chosen."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rcm_ipmp.config import GroupConfig, InterfaceConfig, IpmpConfig
from rcm_ipmp.probing import (
    FAILURE_AFTER,
    MAX_TARGETS,
    REPAIR_AFTER,
    MemberProbe,
    choose_targets,
    probe_configs,
)
from rcm_netkit.icmpprobe import (
    EchoEncoder,
    checksum,
    echo_request,
    parse_echo_reply,
)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.booleans())
def test_patched_packets_equal_the_reference_encoding(ident: int, seq: int, v6: bool) -> None:
    enc = EchoEncoder(ident, v6)
    assert bytes(enc.encode(seq)) == echo_request(ident, seq, v6)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_ipv4_requests_carry_a_valid_checksum(ident: int, seq: int) -> None:
    assert checksum(echo_request(ident, seq, v6=False)) == 0


def _as_reply(request: bytes, v6: bool) -> bytes:
    """What comes back: the same message with type echo reply (and, for
    IPv4, behind a 20-byte IP header, as a raw socket hands it over)."""
    reply = bytes([129 if v6 else 0]) + request[1:]
    if v6:
        return reply
    return bytes([0x45]) + bytes(19) + reply


@pytest.mark.parametrize("v6", [False, True])
def test_a_reply_to_our_probe_parses_to_its_ident_and_seq(v6: bool) -> None:
    assert parse_echo_reply(_as_reply(echo_request(4242, 17, v6), v6), v6) == (4242, 17)


@pytest.mark.parametrize("v6", [False, True])
def test_requests_and_foreign_echoes_are_not_replies(v6: bool) -> None:
    request = echo_request(1, 2, v6)
    own = request if v6 else bytes([0x45]) + bytes(19) + request
    assert parse_echo_reply(own, v6) is None  # an echo request, not a reply
    foreign = _as_reply(request[:8] + b"ping-abcdefgh", v6)  # someone else's payload
    assert parse_echo_reply(foreign, v6) is None
    assert parse_echo_reply(b"\x45", v6) is None


def test_five_lost_in_a_row_fail_and_ten_answered_repair() -> None:
    p = MemberProbe("nic0", 0.1)

    def probe(answer: bool) -> str | None:
        p.sent += 1
        return p.judge(answer, 2.0)

    assert probe(True) is None and p.state == "ok" and p.rtts[-1] == 2.0
    results = [probe(False) for _ in range(FAILURE_AFTER)]
    assert results[:-1] == [None] * (FAILURE_AFTER - 1)  # 4 lost: still ok
    assert results[-1] == "failed" and p.state == "failed"  # the 5th fails it
    assert p.lost == FAILURE_AFTER
    results = [probe(True) for _ in range(REPAIR_AFTER)]
    assert results[:-1] == [None] * (REPAIR_AFTER - 1) and results[-1] == "ok"
    assert p.state == "ok"  # 10 answered in a row
    assert (p.sent, p.answered, p.lost) == (1 + FAILURE_AFTER + REPAIR_AFTER, 1 + REPAIR_AFTER, 5)


def test_one_loss_resets_the_repair_count() -> None:
    p = MemberProbe("nic0", 0.1, state="failed")
    for _ in range(REPAIR_AFTER - 1):
        assert p.judge(True, 1.0) is None
    assert p.judge(False) is None  # lost: the count starts again
    for _ in range(REPAIR_AFTER - 1):
        assert p.judge(True, 1.0) is None
    assert p.state == "failed"
    assert p.judge(True, 1.0) == "ok"


def test_losses_not_in_a_row_do_not_fail() -> None:
    p = MemberProbe("nic0", 0.1)
    for _ in range(3):
        for _ in range(FAILURE_AFTER - 1):
            assert p.judge(False) is None
        assert p.judge(True, 1.0) is None
    assert p.state == "ok" and p.lost == 3 * (FAILURE_AFTER - 1)


def test_a_reset_withdraws_a_failure() -> None:
    p = MemberProbe("nic0", 0.1, state="failed")
    assert p.reset() == "unknown" and p.state == "unknown"
    assert MemberProbe("nic1", 0.1, state="ok").reset() is None


ROUTES = [
    (4, None, "nic0"),  # connected route: no gateway
    (4, "192.0.2.1", "nic0"),
    (4, "192.0.2.1", "nic1"),  # the same router through another member: once
    (4, "192.0.2.2", "nic1"),
    (4, "198.51.100.1", "eth9"),  # not the group's
    (6, "fe80::1", "nic0"),
    (6, "2001:db8::1", "nic0"),  # a global IPv6 gateway: IPv6 probes reach link-local only
]


def test_routers_come_first_from_any_member_of_the_group() -> None:
    assert choose_targets(4, ["nic0", "nic1"], ROUTES, ["192.0.2.100"]) == [
        "192.0.2.1",
        "192.0.2.2",
    ]
    assert choose_targets(6, ["nic0", "nic1"], ROUTES, []) == ["fe80::1"]


def test_configured_targets_when_no_router_in_that_family() -> None:
    configured = ["2001:db8::1", *(f"192.0.2.{i}" for i in range(100, 110))]
    got = choose_targets(4, ["nic2"], ROUTES, configured)
    assert got == [f"192.0.2.{i}" for i in range(100, 100 + MAX_TARGETS)]
    assert choose_targets(4, ["nic2"], [], []) == []


def test_probe_configs_take_the_first_test_address_ipv4_first() -> None:
    v4, v6 = ipaddress.ip_interface("192.0.2.20/24"), ipaddress.ip_interface("2001:db8::20/64")
    config = IpmpConfig(
        interfaces={
            "nic0": InterfaceConfig("nic0", None, "g", test_addresses=(v6, v4)),  # type: ignore[arg-type]
            "nic1": InterfaceConfig("nic1", None, "g"),  # type: ignore[arg-type]
            "eth9": InterfaceConfig("eth9", None, None, test_addresses=(v4,)),  # type: ignore[arg-type]
        },
        groups={
            "g": GroupConfig(
                "g",
                failure_detection_time_ms=700,
                targets=(ipaddress.ip_address("fe80::1"), ipaddress.ip_address("192.0.2.1")),
            )
        },
    )
    by_name = {p.ifname: p for p in probe_configs(config)}
    assert sorted(by_name) == ["nic0", "nic1"]  # eth9 is in no group
    assert (by_name["nic0"].test_address, by_name["nic0"].targets) == ("192.0.2.20", ("192.0.2.1",))
    assert by_name["nic0"].detection_ms == 700
    assert by_name["nic1"].test_address is None


def test_test_addresses_are_plumbed_as_host_addresses() -> None:
    from rcm_ipmp.handler import test_address_cidr

    assert test_address_cidr(ipaddress.ip_interface("192.0.2.20/24")) == "192.0.2.20/32"
    assert test_address_cidr(ipaddress.ip_interface("2001:db8::20/64")) == "2001:db8::20/128"


def test_snapshot_has_the_shape_ipmpstat_reads() -> None:
    from rcm_ipmp.handler import IpmpHandler
    from rcm_ipmp.probing import ProbeConfig

    handler = IpmpHandler()
    handler.prober.configure(
        [
            ProbeConfig("nic0", "g", "192.0.2.20", 1000, ("192.0.2.100",)),
            ProbeConfig("nic1", "g", None, 1000),
        ]
    )
    snap = handler.probe_snapshot()
    assert snap == {
        "nic0": {
            "state": "unknown",  # configured, not probed yet
            "targets": [],
            "sent": 0,
            "answered": 0,
            "lost": 0,
            "rtt_ms": [],
            "test_address": "192.0.2.20",
        },
        "nic1": {
            "state": "disabled",  # no test address: link state only
            "targets": [],
            "sent": 0,
            "answered": 0,
            "lost": 0,
            "rtt_ms": [],
            "test_address": None,
        },
    }
    assert handler.probe_failed == set()
