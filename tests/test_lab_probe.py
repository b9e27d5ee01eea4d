"""Probe-based failure detection in the lab, checked where a user looks: which
NIC holds an address, which MAC the client reaches it through, whether a TCP
conversation survives, and rcmd's log in in.mpathd's words.

A failure that keeps the carrier up is made by taking nic0's switch port
(``p-nic0``) off the bridge: nic0 stays UP with carrier, but nothing it
sends reaches anyone.  Timings are not asserted (bench/bench_probe.py
measures them); waits are bounded generously.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rcm_lab import Lab, wait_until

DATA0 = ["192.0.2.10/24", "2001:db8::10/64"]
DATA1 = ["192.0.2.11/24", "2001:db8::11/64"]
TEST0 = ["192.0.2.20/32", "2001:db8::20/128"]  # as plumbed: host addresses
TEST1 = ["192.0.2.21/32", "2001:db8::21/128"]


def probed_interfaces(**extra: Any) -> dict[str, dict[str, Any]]:
    return {
        "nic0": {
            "group": "g",
            "addresses": DATA0,
            "test_addresses": ["192.0.2.20/24", "2001:db8::20/64"],
            **extra,
        },
        "nic1": {
            "group": "g",
            "addresses": DATA1,
            "test_addresses": ["192.0.2.21/24", "2001:db8::21/64"],
            **extra,
        },
    }


def started(lab: Lab) -> Lab:
    lab.start_rcmd()
    assert lab.wait_for_addresses("nic0", DATA0), lab.snapshot()
    assert lab.wait_for_addresses("nic1", DATA1), lab.snapshot()
    return lab


@pytest.fixture
def probed(lab: None) -> Iterator[Lab]:
    """nic0 and nic1 with test addresses, probing the client (a configured
    target: the lab has no router) with a 1 s detection time."""
    groups = {"g": {"failure_detection_time_ms": 1000, "targets": ["192.0.2.100"]}}
    with Lab(interfaces=probed_interfaces(), groups=groups) as made:
        yield started(made)


def port(lab: Lab, nic: str, attached: bool) -> None:
    """Put nic's switch port on the bridge or take it off (carrier stays up)."""
    if attached:
        lab.switch("link", "set", f"p-{nic}", "master", "br0")
    else:
        lab.switch("link", "set", f"p-{nic}", "nomaster")


def wait_log(lab: Lab, line: str, count: int = 1, timeout: float = 15.0) -> None:
    ok = wait_until(lambda: lab.rcmd_log().count(line) >= count, timeout)
    assert ok, f"no {line!r} (x{count}) in rcmd's log\n{lab.snapshot()}"


def assert_neigh(lab: Lab, addr: str, nic: str, timeout: float = 3.0) -> None:
    mac = lab.mac("host", nic)
    ok = wait_until(lambda: lab.client_neigh(addr) == mac, timeout)
    assert ok, f"client reaches {addr} via {lab.client_neigh(addr)}, not {nic} ({mac})"


def in_order(log: str, lines: list[str]) -> bool:
    at = 0
    for line in lines:
        at = log.find(line, at)
        if at < 0:
            return False
        at += len(line)
    return True


@pytest.mark.lab
def test_a_dead_switch_port_fails_over_by_probes_and_back(probed: Lab) -> None:
    lab = probed
    wait_log(lab, "nic0: probe targets 192.0.2.100")
    conv = lab.conversation("192.0.2.10")
    assert conv.wait_for_more(5, 10), conv.describe()

    port(lab, "nic0", attached=False)
    assert lab.wait_for_addresses("nic1", DATA0, timeout=10), lab.snapshot()
    assert lab.link_up("nic0") and "LOWER_UP" in lab.host("link", "show", "nic0").stdout
    assert not set(DATA0) & set(lab.addresses("nic0")), lab.snapshot()
    assert set(TEST0) <= set(lab.addresses("nic0")), "test addresses never move"
    assert_neigh(lab, "192.0.2.10", "nic1")
    assert conv.wait_for_more(20, 10) and not conv.broken(), conv.describe()

    port(lab, "nic0", attached=True)
    assert lab.wait_for_addresses("nic0", DATA0, timeout=15), lab.snapshot()
    assert_neigh(lab, "192.0.2.10", "nic0")
    assert conv.wait_for_more(20, 10) and not conv.broken(), conv.describe()
    assert in_order(
        lab.rcmd_log(),
        [
            "NIC failure detected on nic0 of group g",
            "Successfully failed over from NIC nic0 to NIC nic1",
            "NIC repair detected on nic0 of group g",
            "Successfully failed back to NIC nic0",
        ],
    ), lab.rcmd_log()


@pytest.mark.lab
def test_every_member_failed_then_one_repaired(probed: Lab) -> None:
    lab = probed
    wait_log(lab, "nic1: probe targets 192.0.2.100")
    port(lab, "nic0", attached=False)
    wait_log(lab, "Successfully failed over from NIC nic0 to NIC nic1")
    port(lab, "nic1", attached=False)
    wait_log(lab, "All Interfaces in group g have failed")
    assert "NIC failure detected on nic1 of group g" in lab.rcmd_log()
    port(lab, "nic1", attached=True)
    wait_log(lab, "At least 1 interface (nic1) of group g has repaired")
    assert lab.wait_for_addresses("nic1", DATA0 + DATA1, timeout=5), lab.snapshot()
    # What a user sees: a client that talks to nic0's address now reaches it
    # through nic1 (the client learns the MAC by asking: no earlier traffic
    # left it an entry to update).
    conv = lab.conversation("192.0.2.10")
    assert conv.wait_for_more(5, 10), conv.describe()
    assert_neigh(lab, "192.0.2.10", "nic1")


HOST_CONNECTS = r"""
import socket, sys
for dst in sys.argv[1:]:
    s = socket.create_connection((dst, 9100), timeout=5)
    print(s.getsockname()[0])
    s.close()
"""

CLIENT_LISTENS = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 9100)); s.listen(8)
open(sys.argv[1], "w").close()
while True:
    c, _ = s.accept(); c.close()
"""


def host_sources(lab: Lab, *dsts: str) -> list[str]:
    """The source address of a TCP connection from the host to each of ``dsts``."""
    r = subprocess.run(
        lab.exec_argv("host", [sys.executable, "-c", HOST_CONNECTS, *dsts]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.lab
def test_test_addresses_are_never_a_data_source_and_follow_detach(probed: Lab) -> None:
    lab = probed
    assert lab.tmp is not None
    ready = lab.tmp / "listening"
    lab.spawn("client", [sys.executable, "-c", CLIENT_LISTENS, str(ready)])
    assert wait_until(ready.exists, 10)
    tests = {a.split("/")[0] for a in TEST0 + TEST1}

    sources = host_sources(lab, "192.0.2.100", "2001:db8::100")
    assert len(sources) == 2 and not tests & set(sources), sources
    # IPv6: the test address is deprecated (preferred_lft 0).
    shown = lab.host("-6", "addr", "show", "dev", "nic0").stdout
    assert re.search(r"2001:db8::20/128 .*deprecated", shown), shown

    # nic0 fails by probes: its data addresses leave, its test address stays
    # and keeps no route through nic0 alive (else connections would leave by
    # the dead port); still no connection picks a test address.
    port(lab, "nic0", attached=False)
    assert lab.wait_for_addresses("nic1", DATA0, timeout=10), lab.snapshot()
    assert set(TEST0) <= set(lab.addresses("nic0"))
    routes = lab.host("route").stdout + lab.host("-6", "route").stdout
    assert not re.search(r"(192\.0\.2\.0/24|2001:db8::/64) dev nic0", routes), routes
    sources = host_sources(lab, "192.0.2.100", "2001:db8::100")
    assert len(sources) == 2 and not tests & set(sources), sources
    port(lab, "nic0", attached=True)
    assert lab.wait_for_addresses("nic0", DATA0, timeout=15), lab.snapshot()

    # Detached: the test address goes with the NIC's configuration.
    r = lab.cfgadm("-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, r.stdout + r.stderr
    held = lab.addresses("nic0", ns="holding")
    assert not set(TEST0) & set(held), held
    r = lab.cfgadm("-c", "configure", "net:nic0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert lab.wait_for_addresses("nic0", TEST0 + DATA0, timeout=10), lab.snapshot()
    shown = lab.host("-6", "addr", "show", "dev", "nic0").stdout
    assert re.search(r"2001:db8::20/128 .*deprecated", shown), shown


@pytest.mark.lab
def test_targets_routers_first_else_who_answers_all_nodes(lab: None) -> None:
    """nic0 (IPv4 test address) has an on-link router (a route via the client);
    nic1 (IPv6 test address only, no router, no configured target) finds the
    client by an echo to ff02::1 and must never pick the host's own addresses
    (the host answers its own echo too)."""
    interfaces = {
        "nic0": {"group": "g", "addresses": DATA0, "test_addresses": ["192.0.2.20/24"]},
        "nic1": {"group": "g", "addresses": DATA1, "test_addresses": ["2001:db8::21/64"]},
    }
    groups = {"g": {"failure_detection_time_ms": 700}}
    with Lab(interfaces=interfaces, groups=groups) as made:
        made.host("route", "add", "198.51.100.0/24", "via", "192.0.2.100", "dev", "nic0", "onlink")
        # The client is a host that has been on the link for a while: its
        # link-local address has passed DAD.  (Just after the lab is built it
        # may not have, and then it answers ff02::1 from its global address,
        # which is no IPv6 target, while the bridge answers from its
        # link-local one: discovery would settle on the bridge alone.)
        assert wait_until(
            lambda: "tentative" not in made.client("-6", "addr", "show", "dev", "eth0").stdout, 10
        ), made.client("-6", "addr", "show", "dev", "eth0").stdout
        started(made)
        wait_log(made, "nic0: probe targets 192.0.2.100")
        # IPv6 probes go from the link-local address: the client answers
        # from its own (eth0, 02:00:5e:00:02:00); so may the lab's bridge.
        found = re.compile(r"nic1: probe targets .*fe80::5eff:fe00:200\b.*\(answered ff02::1\)")
        assert wait_until(lambda: found.search(made.rcmd_log()), 15), made.snapshot()
        log = made.rcmd_log()
        assert not re.search(r"probe targets .*fe80::5eff:fe00:10[01]\b", log), log
        # And the discovered target judges nic1 like any other.
        port(made, "nic1", attached=False)
        assert made.wait_for_addresses("nic0", DATA1, timeout=10), made.snapshot()
        wait_log(made, "NIC failure detected on nic1 of group g")


@pytest.mark.lab
def test_a_flapping_link_is_not_repaired_until_stable(lab: None) -> None:
    """Carrier flaps (the switch side of nic0's cable set down and up): the
    first two repairs count at once, the third within a minute is held for
    the detection time (5 s here) before nic0 gets its addresses back."""
    groups = {"g": {"failure_detection_time_ms": 5000}}
    with Lab(groups=groups) as made:
        started(made)
        for flap in range(1, 4):
            made.switch("link", "set", "p-nic0", "down")
            assert made.wait_for_addresses("nic1", ["192.0.2.10/24"], timeout=10), made.snapshot()
            made.switch("link", "set", "p-nic0", "up")
            if flap < 3:
                assert made.wait_for_addresses("nic0", ["192.0.2.10/24"], timeout=10), (
                    made.snapshot()
                )
        up_at = time.monotonic()
        # Held: still on nic1 a second later (well inside the 5 s hold).
        wait_until(lambda: time.monotonic() - up_at > 1.0, 2)
        assert "192.0.2.10/24" in made.addresses("nic1"), made.snapshot()
        assert made.rcmd_log().count("NIC repair detected on nic0 of group g") == 2
        wait_log(made, "nic0: link stable for the detection time; no longer flapping")
        assert made.wait_for_addresses("nic0", ["192.0.2.10/24"], timeout=10), made.snapshot()
        wait_log(made, "NIC repair detected on nic0 of group g", count=3)


@pytest.mark.lab
def test_a_reloaded_detection_time_is_what_probing_uses(lab: None) -> None:
    """The group's failure_detection_time_ms from 10 s to 1 s by a reload:
    a dead switch port is then noticed within seconds (at 10 s, five probes
    1.4 s apart could not be lost in under 7 s)."""
    import os
    import signal

    groups = {"g": {"failure_detection_time_ms": 10000, "targets": ["192.0.2.100"]}}
    with Lab(interfaces=probed_interfaces(), groups=groups) as made:
        started(made)
        wait_log(made, "nic0: probe targets 192.0.2.100")
        made.groups = {"g": {"failure_detection_time_ms": 1000, "targets": ["192.0.2.100"]}}
        made.write_config()
        assert made._rcmd is not None
        os.kill(made._rcmd.pid, signal.SIGHUP)
        wait_log(made, "configuration reloaded")
        time.sleep(1.5)  # a probe at the old interval may still be due
        port(made, "nic0", attached=False)
        assert made.wait_for_addresses("nic1", DATA0, timeout=5), made.snapshot()
        wait_log(made, "NIC failure detected on nic0 of group g")


@pytest.mark.lab
def test_a_late_event_does_not_hide_the_links_state(lab: None) -> None:
    """rcmd judges a member by the link as the kernel has it when the event
    is handled, not by the (older) event: the soak (seed 1, step ~1050) had a
    stale "down" recorded against a link that was up, and then ignored the
    real carrier loss, leaving nic0's addresses on a NIC with no carrier.

    Made here by stopping rcmd while nic0's third flap happens: its "down"
    is handled after the link is up again (a stale event), its "up" makes
    nic0 a flapping member, which must hand its addresses to nic1."""
    import os
    import signal

    groups = {"g": {"failure_detection_time_ms": 10000}}
    with Lab(groups=groups) as made:
        started(made)
        for _ in range(2):
            made.switch("link", "set", "p-nic0", "down")
            assert made.wait_for_addresses("nic1", ["192.0.2.10/24"], timeout=10), made.snapshot()
            made.switch("link", "set", "p-nic0", "up")
            assert made.wait_for_addresses("nic0", ["192.0.2.10/24"], timeout=10), made.snapshot()
        pid = made._rcmd.pid if made._rcmd is not None else 0
        os.kill(pid, signal.SIGSTOP)
        try:
            made.switch("link", "set", "p-nic0", "down")
            time.sleep(0.2)
            made.switch("link", "set", "p-nic0", "up")
            time.sleep(0.5)  # nic0 has its carrier back before rcmd reads either event
        finally:
            os.kill(pid, signal.SIGCONT)
        # Flapping (the third up within a minute): held for 10 s, so its
        # addresses go to nic1 meanwhile.
        assert made.wait_for_addresses("nic1", ["192.0.2.10/24"], timeout=5), made.snapshot()
        assert "192.0.2.10/24" not in made.addresses("nic0"), made.snapshot()


@pytest.mark.lab
def test_strict_reverse_path_filtering_fails_no_healthy_member(lab: None) -> None:
    """With rp_filter=1 (strict, some distributions' default) the kernel drops
    a probe reply arriving on nic1 when its route back to the target leaves
    by nic0: a healthy nic1 would fail.  rcmd sets members that probe to
    loose (2), so only the dead port fails."""
    groups = {"g": {"failure_detection_time_ms": 700, "targets": ["192.0.2.100"]}}
    with Lab(interfaces=probed_interfaces(), groups=groups) as made:
        subprocess.run(
            made.exec_argv("host", ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]), check=True
        )
        started(made)
        wait_log(made, "nic1: probe targets 192.0.2.100")
        ticks = time.monotonic()
        wait_until(lambda: time.monotonic() - ticks > 1.5, 2)  # 2x the detection time
        assert "NIC failure detected" not in made.rcmd_log(), made.rcmd_log()
        value = subprocess.run(
            made.exec_argv("host", ["cat", "/proc/sys/net/ipv4/conf/nic1/rp_filter"]),
            capture_output=True,
            text=True,
            check=True,
        )
        assert value.stdout.strip() == "2"
        port(made, "nic0", attached=False)
        assert made.wait_for_addresses("nic1", DATA0, timeout=10), made.snapshot()
