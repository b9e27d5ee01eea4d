"""rcm_netkit.netlink / netns / sysctl against the real kernel, in throwaway namespaces.

`ip` builds the fixtures and checks results; the code under test never runs it.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import threading
import uuid

import pytest
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_GETADDR, RTM_GETLINK, RTM_NEWADDR
from rcm_netkit import netns as netns_mod
from rcm_netkit.netlink import DUMP_ATTEMPTS, Address, Link, Netlink, NetlinkError
from rcm_netkit.sysctl import get_conf, prepare_member, set_conf

pytestmark = pytest.mark.lab


def ip(*args: str, check: bool = True) -> str:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True).stdout


def ip_json(*args: str) -> list[dict]:
    return json.loads(ip("-j", *args) or "[]")


def ns_addrs(ns: str, dev: str) -> set[str]:
    out = set()
    for entry in ip_json("-n", ns, "addr", "show", "dev", dev):
        for a in entry.get("addr_info", []):
            out.add(f"{a['local']}/{a['prefixlen']}")
    return out


def veth(ns: str, a: str = "va", b: str = "vb") -> None:
    ip("-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)


def own_netns_inode() -> int:
    return os.stat(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net").st_ino


# --- links ---------------------------------------------------------------------


def test_links_and_link_report_what_ip_reports(netns) -> None:
    ns = netns("links")
    veth(ns)
    ip("-n", ns, "link", "set", "va", "address", "02:00:00:00:aa:01")
    ip("-n", ns, "link", "set", "va", "up")
    before = own_netns_inode()
    with Netlink(netns=ns) as nl:
        links = {link.name: link for link in nl.links()}
        va = nl.link("va")
        assert nl.link("nosuch0") is None
    assert own_netns_inode() == before
    assert set(links) == {"lo", "va", "vb"}
    assert va == links["va"]
    assert isinstance(va, Link)
    assert va.mac == "02:00:00:00:aa:01"
    assert va.kind == "veth"
    assert links["lo"].kind is None
    assert va.up is True
    # Peer vb is down: va has no carrier.
    assert va.carrier is False
    assert va.operstate == "LOWERLAYERDOWN"
    assert links["vb"].up is False and links["vb"].operstate == "DOWN"
    assert va.index == ip_json("-n", ns, "link", "show", "va")[0]["ifindex"]


def test_set_link_up_and_down(netns) -> None:
    ns = netns("updown")
    veth(ns)
    with Netlink(netns=ns) as nl:
        nl.set_link_up("va")
        nl.set_link_up("vb", True)
        assert "UP" in ip_json("-n", ns, "link", "show", "va")[0]["flags"]
        link = nl.link("va")
        assert link is not None and link.up and link.carrier and link.operstate == "UP"
        nl.set_link_up("vb", up=False)
        assert "UP" not in ip_json("-n", ns, "link", "show", "vb")[0]["flags"]
        link = nl.link("va")
        assert link is not None and not link.carrier
        with pytest.raises(NetlinkError, match="nosuch0"):
            nl.set_link_up("nosuch0")


def test_missing_namespace_is_an_error_and_is_not_created() -> None:
    name = f"rcmt-absent-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    with pytest.raises(NetlinkError, match=name):
        Netlink(netns=name)
    assert not os.path.exists(f"/run/netns/{name}")


# --- addresses -------------------------------------------------------------------


def test_add_and_delete_addresses_v4_v6(netns) -> None:
    ns = netns("addr")
    veth(ns)
    ip("-n", ns, "link", "set", "va", "up")
    cidrs = ["192.0.2.10/24", "192.0.2.11/24", "198.51.100.7/32", "2001:db8::10/64"]
    with Netlink(netns=ns) as nl:
        assert nl.add_addresses("va", cidrs) == {}
        assert set(cidrs) <= ns_addrs(ns, "va")
        # IPv6 without DAD: usable at once, never tentative.
        v6 = ip_json("-n", ns, "-6", "addr", "show", "dev", "va")[0]["addr_info"]
        mine = [a for a in v6 if a["local"] == "2001:db8::10"]
        assert mine and not mine[0].get("tentative")

        got = {a.cidr: a for a in nl.addresses("va")}
        assert set(cidrs) <= set(got)
        a = got["2001:db8::10/64"]
        assert isinstance(a, Address)
        assert (a.ifname, a.family, a.scope) == ("va", 6, "global")
        assert got["192.0.2.10/24"].family == 4
        assert got["192.0.2.10/24"].index == nl.link("va").index  # type: ignore[union-attr]
        assert all(x.ifname == "va" for x in nl.addresses("va"))
        assert {x.ifname for x in nl.addresses()} >= {"lo", "va"}
        assert nl.addresses("nosuch0") == []

        # Adding again is success (EEXIST); deleting twice too (EADDRNOTAVAIL).
        assert nl.add_addresses("va", cidrs) == {}
        assert nl.del_addresses("va", cidrs[:2]) == {}
        assert nl.del_addresses("va", cidrs[:2]) == {}
        left = ns_addrs(ns, "va")
        assert "192.0.2.10/24" not in left and "192.0.2.11/24" not in left
        assert "198.51.100.7/32" in left

        # Bare addresses are deleted whatever their prefix length.
        assert nl.del_addresses("va", ["198.51.100.7", "2001:db8::10"]) == {}
        left = ns_addrs(ns, "va")
        assert "198.51.100.7/32" not in left and "2001:db8::10/64" not in left


def test_add_reports_each_failure_and_applies_the_rest(netns) -> None:
    ns = netns("addrerr")
    veth(ns)
    with Netlink(netns=ns) as nl:
        errors = nl.add_addresses(
            "va", ["192.0.2.1/24", "not-an-ip", "192.0.2.300/24", "192.0.2.2/24"]
        )
        assert set(errors) == {"not-an-ip", "192.0.2.300/24"}
        assert all("va" in text for text in errors.values())
        assert {"192.0.2.1/24", "192.0.2.2/24"} <= ns_addrs(ns, "va")

        # A failure the kernel reports (an IPv6 multicast address cannot be local):
        # the error names interface and address, the others still go in.
        errors = nl.add_addresses("va", ["192.0.2.3/24", "ff0e::5/64", "192.0.2.4/24"])
        assert list(errors) == ["ff0e::5/64"]
        assert "va" in errors["ff0e::5/64"] and "ff0e::5/64" in errors["ff0e::5/64"]
        assert {"192.0.2.3/24", "192.0.2.4/24"} <= ns_addrs(ns, "va")

        errors = nl.add_addresses("nosuch0", ["192.0.2.9/24"])
        assert "no such interface" in errors["192.0.2.9/24"]
        assert "nosuch0" in errors["192.0.2.9/24"]
        # Nothing to delete on an interface that is gone.
        assert nl.del_addresses("nosuch0", ["192.0.2.9/24"]) == {}


def test_batch_of_many_addresses_every_ack_counted(netns) -> None:
    ns = netns("many")
    veth(ns)
    # More than one send() worth, with one failure in the middle of a later batch.
    cidrs = [f"10.1.{i // 250}.{i % 250 + 1}/16" for i in range(700)]
    bad = "ff0e::1:1/64"
    with Netlink(netns=ns) as nl:
        errors = nl.add_addresses("va", cidrs[:600] + [bad] + cidrs[600:])
        assert list(errors) == [bad]
        assert len(ns_addrs(ns, "va") & set(cidrs)) == 700
        assert nl.del_addresses("va", cidrs) == {}
        assert not ns_addrs(ns, "va") & set(cidrs)


def test_delete_primary_keeps_secondaries_after_prepare_member(netns) -> None:
    ns = netns("promote")
    veth(ns)

    def body() -> None:
        prepare_member("va")
        assert get_conf("va", 4, "arp_ignore") == "1"
        assert get_conf("va", 4, "arp_announce") == "2"
        assert get_conf("va", 4, "promote_secondaries") == "1"

    netns_mod.call_in_netns(ns, body)
    # The host's own setting is untouched (sysctls are per namespace).
    with Netlink(netns=ns) as nl:
        assert nl.add_addresses("va", ["192.0.2.1/24", "192.0.2.2/24", "192.0.2.3/24"]) == {}
        assert nl.del_addresses("va", ["192.0.2.1/24"]) == {}
        assert {"192.0.2.2/24", "192.0.2.3/24"} <= ns_addrs(ns, "va")


def test_without_promote_secondaries_the_kernel_flushes_them(netns) -> None:
    """The control for the test above: it can fail."""
    ns = netns("nopromote")
    veth(ns)
    netns_mod.call_in_netns(ns, set_conf, "va", 4, "promote_secondaries", 0)
    with Netlink(netns=ns) as nl:
        nl.add_addresses("va", ["192.0.2.1/24", "192.0.2.2/24"])
        nl.del_addresses("va", ["192.0.2.1/24"])
        assert "192.0.2.2/24" not in ns_addrs(ns, "va")


@pytest.mark.parametrize("bad", ["../eth0", "a/b", "..", "", "x..y"])
def test_sysctl_refuses_path_tricks(bad: str) -> None:
    with pytest.raises(NetlinkError):
        set_conf(bad, 4, "arp_ignore", 1)
    with pytest.raises(NetlinkError):
        set_conf("lo", 4, bad or "/", 1)


def test_sysctl_error_names_interface_and_key(netns) -> None:
    ns = netns("sysctlerr")
    with pytest.raises(NetlinkError, match=r"nosuch0.*arp_ignore"):
        netns_mod.call_in_netns(ns, set_conf, "nosuch0", 4, "arp_ignore", 1)


# --- namespaces --------------------------------------------------------------------


def test_move_link_and_pull_it_back(netns) -> None:
    host = netns("host")
    hold = netns("hold")
    veth(host, "nic0", "nic0p")
    ip("-n", host, "link", "set", "nic0", "address", "02:00:00:00:00:42")
    before = own_netns_inode()
    with Netlink(netns=host) as nl:
        nl.move_link("nic0", hold)
        assert nl.link("nic0") is None
        assert "nic0" in {x["ifname"] for x in ip_json("-n", hold, "link", "show")}
        with Netlink(netns=hold) as held:
            detached = held.link("nic0")
            assert detached is not None and detached.mac == "02:00:00:00:00:42"

        nl.pull_link("nic0", hold)
        back = nl.link("nic0")
        assert back is not None and back.mac == "02:00:00:00:00:42"
        assert "nic0" not in {x["ifname"] for x in ip_json("-n", hold, "link", "show")}

        with pytest.raises(NetlinkError, match="nic0"):
            nl.pull_link("nic0", hold)  # not there any more
        with pytest.raises(NetlinkError, match="nosuch0"):
            nl.move_link("nosuch0", hold)
        missing = f"rcmt-absent-{uuid.uuid4().hex[:6]}"
        with pytest.raises(NetlinkError, match=missing):
            nl.move_link("nic0", missing)
        assert not os.path.exists(f"/run/netns/{missing}")
    assert own_netns_inode() == before


def test_pull_into_the_callers_own_namespace(netns) -> None:
    """Netlink() without a name acts on the namespace of the thread that made it."""
    host = netns("own")
    hold = netns("ownhold")
    veth(hold, "nic7", "nic7p")
    found: list[str | None] = []

    def body() -> None:
        with Netlink() as nl:
            nl.pull_link("nic7", hold)
            link = nl.link("nic7")
            found.append(link.name if link else None)

    netns_mod.call_in_netns(host, body)
    assert found == ["nic7"]
    assert "nic7" in {x["ifname"] for x in ip_json("-n", host, "link", "show")}


def test_ensure_netns_creates_once_and_is_visible_to_ip(lab) -> None:
    name = f"rcmt-ensure-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        assert not netns_mod.netns_exists(name)
        assert netns_mod.ensure_netns(name) is True
        assert netns_mod.netns_exists(name)
        assert netns_mod.ensure_netns(name) is False
        # ip can use it: it is a real namespace, separate from ours.
        names = [x["ifname"] for x in ip_json("-n", name, "link", "show")]
        assert names == ["lo"]
        with Netlink(netns=name) as nl:
            assert [link.name for link in nl.links()] == ["lo"]
    finally:
        netns_mod.delete_netns(name)
    assert not netns_mod.netns_exists(name)
    assert not os.path.exists(f"/run/netns/{name}")


def test_netns_exists_rejects_placeholder_file_and_bad_names(lab) -> None:
    name = f"rcmt-placeholder-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    os.makedirs("/run/netns", exist_ok=True)
    path = f"/run/netns/{name}"
    open(path, "w").close()
    try:
        assert not netns_mod.netns_exists(name)
        with pytest.raises(NetlinkError, match="not a namespace mount"):
            Netlink(netns=name)
    finally:
        os.unlink(path)
    for bad in ("../x", "a/b", "", ".."):
        with pytest.raises(netns_mod.NetnsError):
            netns_mod.netns_exists(bad)


def test_delete_sends_secondaries_before_their_primary(netns, monkeypatch) -> None:
    """With promote_secondaries=1, deleting a primary first makes the kernel
    promote (and re-route) a secondary for every delete: 1000 deletes take
    seconds instead of milliseconds.  Whatever order the caller gives, the
    primary must go last."""
    ns = netns("order")
    veth(ns)
    netns_mod.call_in_netns(ns, prepare_member, "va")
    cidrs = [f"10.9.0.{i}/24" for i in range(1, 6)]
    sent: list[str] = []
    with Netlink(netns=ns) as nl:
        assert nl.add_addresses("va", cidrs) == {}
        batch = nl._addrbatch()
        real = batch.exchange

        def spy(messages):  # type: ignore[no-untyped-def]
            for msg in messages:
                if struct.unpack_from("=H", msg, 4)[0] == RTM_DELADDR:
                    # nlmsghdr (16) + ifaddrmsg (8) + attribute header (4): IFA_LOCAL
                    sent.append(".".join(str(b) for b in msg[28:32]))
            return real(messages)

        monkeypatch.setattr(batch, "exchange", spy)
        assert nl.del_addresses("va", cidrs) == {}
    assert sent[-1] == "10.9.0.1"  # the primary
    assert sorted(sent) == sorted(c.split("/")[0] for c in cidrs)
    assert not ns_addrs(ns, "va") & set(cidrs)


# --- what a caller already read: index, the kernel's order, the links --------------------


def spy_on_requests(nl: Netlink, monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """The message type of every request the synchronous socket sends."""
    batch = nl._addrbatch()
    real = batch.exchange
    kinds: list[int] = []

    def spy(messages):  # type: ignore[no-untyped-def]
        kinds.extend(struct.unpack_from("=H", msg, 4)[0] for msg in messages)
        return real(messages)

    monkeypatch.setattr(batch, "exchange", spy)
    return kinds


def test_add_and_delete_with_the_callers_index_look_nothing_up(netns, monkeypatch) -> None:
    ns = netns("index")
    veth(ns)
    cidrs = ["192.0.2.1/24", "192.0.2.2/24", "2001:db8::1/64"]
    with Netlink(netns=ns) as nl:
        va = nl.link("va")
        assert va is not None
        kinds = spy_on_requests(nl, monkeypatch)
        assert nl.add_addresses("va", cidrs, index=va.index) == {}
        assert set(kinds) == {RTM_NEWADDR}  # no RTM_GETLINK
        assert set(cidrs) <= ns_addrs(ns, "va")
        assert not ns_addrs(ns, "vb") & set(cidrs)
        seen = nl.addresses("va")
        kinds.clear()
        assert nl.del_addresses("va", cidrs, index=va.index, present=seen) == {}
        assert set(kinds) == {RTM_DELADDR}  # no lookup, no address dump
        assert not ns_addrs(ns, "va") & set(cidrs)


def test_a_stale_index_fails_each_address_and_names_the_interface(netns) -> None:
    ns = netns("stale")
    veth(ns)
    veth(ns, "vc", "vd")
    with Netlink(netns=ns) as nl:
        gone = nl.link("vc")
        assert gone is not None
        ip("-n", ns, "link", "del", "vc")
        errors = nl.add_addresses("vc", ["192.0.2.1/24", "192.0.2.2/24"], index=gone.index)
        assert set(errors) == {"192.0.2.1/24", "192.0.2.2/24"}
        assert all(text.startswith("vc: cannot add") for text in errors.values())
        assert all("No such device" in text for text in errors.values())
        assert "192.0.2.1/24" not in ns_addrs(ns, "va") | ns_addrs(ns, "vb")


def test_delete_takes_the_kernel_order_from_the_callers_observation(netns, monkeypatch) -> None:
    """With ``present`` (the list the caller read in the same step), no address
    dump is made, secondaries still go before their primary, and an address
    added since (absent from it) is still deleted (last)."""
    ns = netns("present")
    veth(ns)
    netns_mod.call_in_netns(ns, prepare_member, "va")
    cidrs = [f"10.9.0.{i}/24" for i in range(1, 6)]
    with Netlink(netns=ns) as nl:
        assert nl.add_addresses("va", cidrs) == {}
        seen = nl.addresses("va")
        assert [a.cidr for a in seen if a.family == 4] == cidrs  # the kernel's order
        assert nl.add_addresses("va", ["10.9.0.9/24"]) == {}  # after the observation
        batch = nl._addrbatch()
        real = batch.exchange
        sent: list[str] = []
        kinds: list[int] = []

        def spy(messages):  # type: ignore[no-untyped-def]
            for msg in messages:
                kinds.append(struct.unpack_from("=H", msg, 4)[0])
                if kinds[-1] == RTM_DELADDR:
                    sent.append(".".join(str(b) for b in msg[28:32]))
            return real(messages)

        monkeypatch.setattr(batch, "exchange", spy)
        index = seen[0].index
        assert nl.del_addresses("va", [*cidrs, "10.9.0.9/24"], index=index, present=seen) == {}
        assert RTM_GETADDR not in kinds and RTM_GETLINK not in kinds
        # The primary after every secondary the observation listed; the one
        # added since is asked for last.
        assert sent[-2:] == ["10.9.0.1", "10.9.0.9"]
        assert sorted(sent) == sorted(["10.9.0.9", *(c.split("/")[0] for c in cidrs)])
        assert not ns_addrs(ns, "va") & {*cidrs, "10.9.0.9/24"}

        # A bare address the observation does not have: the kernel is asked.
        assert nl.add_addresses("va", ["10.9.0.7/24"]) == {}
        kinds.clear()
        assert nl.del_addresses("va", ["10.9.0.7"], index=index, present=seen) == {}
        assert RTM_GETADDR in kinds
        assert "10.9.0.7/24" not in ns_addrs(ns, "va")


def test_addresses_named_from_the_callers_links_without_a_link_dump(netns, monkeypatch) -> None:
    ns = netns("named")
    veth(ns)
    with Netlink(netns=ns) as nl:
        assert nl.add_addresses("va", ["192.0.2.1/24"]) == {}
        assert nl.add_addresses("vb", ["192.0.2.2/24"]) == {}
        links = nl.links()
        kinds = spy_on_requests(nl, monkeypatch)
        got = {a.cidr: a.ifname for a in nl.addresses(links=links)}
        assert kinds == [RTM_GETADDR]
        assert got["192.0.2.1/24"] == "va" and got["192.0.2.2/24"] == "vb"
        only_va = nl.addresses("va", links=links)
        assert [a.cidr for a in only_va if a.family == 4] == ["192.0.2.1/24"]
        # A link the caller does not know (made after its read) has no name.
        veth(ns, "vc", "vd")
        assert nl.add_addresses("vc", ["192.0.2.3/24"]) == {}
        got = {a.cidr: a.ifname for a in nl.addresses(links=links)}
        assert got["192.0.2.3/24"] == ""
        assert nl.addresses("vc", links=links) == []
        assert {a.ifname for a in nl.addresses() if a.cidr == "192.0.2.3/24"} == {"vc"}


def test_link_dump_interrupted_every_time_raises(netns, monkeypatch) -> None:
    ns = netns("lintr")
    with Netlink(netns=ns) as nl:
        batch = nl._addrbatch()
        real = batch.exchange
        calls = []

        def interrupted(messages):  # type: ignore[no-untyped-def]
            calls.append(1)
            replies = real(messages)
            for r in replies:
                r.interrupted = True
            return replies

        monkeypatch.setattr(batch, "exchange", interrupted)
        with pytest.raises(NetlinkError, match="link dump.*interrupted 5 times"):
            nl.links()
        assert len(calls) == DUMP_ATTEMPTS
        monkeypatch.setattr(batch, "exchange", real)
        assert {link.name for link in nl.links()} == {"lo"}


def test_a_closed_netlink_refuses_instead_of_reopening(netns) -> None:
    ns = netns("closed")
    veth(ns)
    nl = Netlink(netns=ns)
    assert nl.link("va") is not None
    nl.close()
    for call in (
        lambda: nl.link("va"),
        nl.links,
        lambda: nl.addresses(),
        lambda: nl.add_addresses("va", ["192.0.2.1/24"]),
    ):
        with pytest.raises(NetlinkError, match="closed"):
            call()
    assert "192.0.2.1/24" not in ns_addrs(ns, "va")
