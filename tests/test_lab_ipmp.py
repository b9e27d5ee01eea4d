"""Acceptance tests: rcmd + cfgadm + IPMP against the real kernel, in throwaway namespaces.

Each numbered test is one point of the acceptance spec and asserts what an admin or a client
would see: cfgadm's output and exit status, where the addresses are, which MAC the client
reaches an address through, and whether a live TCP conversation survives.

Every test builds a fresh :class:`rcm_lab.Lab` (two NICs of IPMP group ``g`` on a bridge, a
client, a holding namespace); the lab only creates links, so the data addresses appear only if
rcmd restores them from the interface files.  The ``lab`` fixture from conftest skips without
root and fails instead under RCM_REQUIRE_LAB=1.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def _import_rcm_lab() -> Any:
    """``import rcm_lab``, or load it from ``lab/`` when the project is not installed.

    The harness tests should run (and tell the truth about the harness) even in a bare
    checkout; the product tests will then fail with "rcmd not found"-style messages.
    """
    try:
        return importlib.import_module("rcm_lab")
    except ImportError:
        spec = importlib.util.spec_from_file_location(
            "rcm_lab", REPO / "lab" / "__init__.py", submodule_search_locations=[str(REPO / "lab")]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["rcm_lab"] = module
        spec.loader.exec_module(module)
        return module


rcm_lab = _import_rcm_lab()
Lab = rcm_lab.Lab
RcmdError = rcm_lab.RcmdError
wait_until = rcm_lab.wait_until

pytestmark = pytest.mark.lab

V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"
ALL_DATA = [V4_10, V6_10, V4_11, V6_11]
FAILOVER_MSG = "moving addresses from failed IPv4 interfaces: nic0 (moved to nic1)"
NO_ALTERNATIVE_MSG = "(couldn't move; no alternative interface)"


# -- fixtures and helpers -------------------------------------------------------


@pytest.fixture
def make_lab(lab: None) -> Iterator[Callable[..., Any]]:
    """Factory for built labs, all closed after the test whatever happened."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        new = Lab(**kwargs)
        made.append(new)
        new.build()
        return new

    yield make
    for each in made:
        each.close()


def start(lab: Any) -> Any:
    """Start rcmd and wait until it has restored both NICs' data addresses."""
    lab.start_rcmd()
    restored = lab.wait_for_addresses("nic0", [V4_10, V6_10]) and lab.wait_for_addresses(
        "nic1", [V4_11, V6_11]
    )
    assert restored, "rcmd did not restore the data addresses\n" + lab.snapshot()
    return lab


@pytest.fixture
def ipmp(make_lab: Callable[..., Any]) -> Any:
    """A default lab with rcmd running and nic0/nic1 carrying their data addresses."""
    return start(make_lab())


def show(r: subprocess.CompletedProcess[str], lab: Any) -> str:
    """Assertion context: the command, its output, and the lab's state."""
    return (
        f"$ {' '.join(map(str, r.args))}\nexit {r.returncode}\n--- stdout ---\n{r.stdout}"
        f"--- stderr ---\n{r.stderr}\n{lab.snapshot()}"
    )


def cfgadm_ok(lab: Any, *args: str) -> subprocess.CompletedProcess[str]:
    r = lab.cfgadm(*args)
    assert r.returncode == 0, show(r, lab)
    return r


def assert_alive(conv: Any, lab: Any, more: int = 20, timeout: float = 10.0) -> None:
    """The conversation keeps making round trips and was neither reset nor closed."""
    assert conv.wait_for_more(more, timeout), conv.describe() + "\n" + lab.snapshot()
    assert not conv.broken(), conv.describe() + "\n" + lab.snapshot()


def assert_neigh(lab: Any, addr: str, mac: str, timeout: float = 1.0) -> None:
    """The client reaches ``addr`` through ``mac`` (poll: the announcement is asynchronous)."""
    ok = wait_until(lambda: lab.client_neigh(addr) == mac, timeout)
    assert ok, f"client neighbour {addr} is {lab.client_neigh(addr)}, want {mac}\n{lab.snapshot()}"


# -- 1. listing ------------------------------------------------------------------


def test_1_list_shows_nics_and_usage(ipmp: Any) -> None:
    r = cfgadm_ok(ipmp, "-l")
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines[0].split() == ["Ap_Id", "Type", "Receptacle", "Occupant", "Condition"], show(
        r, ipmp
    )
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for nic in ("nic0", "nic1"):
        assert f"net:{nic}" in rows, show(r, ipmp)
        assert rows[f"net:{nic}"][-3:] == ["connected", "configured", "ok"], show(r, ipmp)

    r = cfgadm_ok(ipmp, "-lv")
    text = " ".join(r.stdout.split())  # tolerant of column padding and wrapping
    assert "nic0: hosts data addresses 192.0.2.10/24" in text, show(r, ipmp)
    assert "IPMP group g" in text, show(r, ipmp)


# -- 2. unconfigure moves the data addresses ---------------------------------------------


def test_2_unconfigure_moves_addresses_and_conversation_survives(ipmp: Any) -> None:
    mac1 = ipmp.mac("host", "nic1")
    conv = ipmp.conversation("192.0.2.10")
    conv6 = ipmp.conversation("2001:db8::10")

    r = cfgadm_ok(ipmp, "-c", "unconfigure", "net:nic0")
    # what moved, one line per NIC, IPv4 first
    assert r.stdout == f"moving addresses from nic0 to nic1: {V4_10}, {V6_10}\n", show(r, ipmp)

    have = ipmp.addresses("nic1")
    assert V4_10 in have and V6_10 in have, show(r, ipmp)
    assert "nic0" not in ipmp.links_in("host"), show(r, ipmp)
    assert "nic0" in ipmp.links_in("holding"), show(r, ipmp)
    assert_neigh(ipmp, "192.0.2.10", mac1)
    assert_neigh(ipmp, "2001:db8::10", mac1)
    assert_alive(conv, ipmp)
    assert_alive(conv6, ipmp)


# -- 3. the last working member is protected ------------------------------------------


def test_3_last_member_vetoed_then_forced_then_recorded(ipmp: Any) -> None:
    cfgadm_ok(ipmp, "-c", "unconfigure", "net:nic0")

    r = ipmp.cfgadm("-c", "unconfigure", "net:nic1")
    assert r.returncode == 1, show(r, ipmp)
    assert "nic1" in r.stderr, show(r, ipmp)
    assert re.search(r"\bgroup g\b", r.stderr), show(r, ipmp)
    why = r.stderr.lower()
    assert any(w in why for w in ("last", "no alternative", "only")), show(r, ipmp)
    # Nothing changed.
    assert set(ALL_DATA) <= set(ipmp.addresses("nic1")), show(r, ipmp)
    assert "nic1" in ipmp.links_in("host"), show(r, ipmp)

    r = cfgadm_ok(ipmp, "-f", "-c", "unconfigure", "net:nic1")
    assert "nic1" not in ipmp.links_in("host"), show(r, ipmp)
    assert "nic1" in ipmp.links_in("holding"), show(r, ipmp)

    # The forced detach recorded the addresses: bringing nic0 back brings all four.
    r = cfgadm_ok(ipmp, "-c", "configure", "net:nic0")
    assert set(ALL_DATA) <= set(ipmp.addresses("nic0")), show(r, ipmp)

    # And nic1's own addresses fail back to it when it returns.
    r = cfgadm_ok(ipmp, "-c", "configure", "net:nic1")
    assert {V4_11, V6_11} <= set(ipmp.addresses("nic1")), show(r, ipmp)
    assert not {V4_11, V6_11} & set(ipmp.addresses("nic0")), show(r, ipmp)


# -- 4. configure fails back ----------------------------------------------------


def test_4_configure_fails_back(ipmp: Any) -> None:
    mac0 = ipmp.mac("host", "nic0")
    conv = ipmp.conversation("192.0.2.10")
    cfgadm_ok(ipmp, "-c", "unconfigure", "net:nic0")
    assert_alive(conv, ipmp, more=5)

    r = cfgadm_ok(ipmp, "-c", "configure", "net:nic0")

    assert "nic0" in ipmp.links_in("host"), show(r, ipmp)
    assert "nic0" not in ipmp.links_in("holding"), show(r, ipmp)
    assert ipmp.link_up("nic0"), show(r, ipmp)
    assert {V4_10, V6_10} <= set(ipmp.addresses("nic0")), show(r, ipmp)
    assert not {V4_10, V6_10} & set(ipmp.addresses("nic1")), show(r, ipmp)
    assert_neigh(ipmp, "192.0.2.10", mac0)
    assert_alive(conv, ipmp)


# -- 5. surprise removal and return ------------------------------------------------


def test_5_surprise_removal_fails_over_and_back(ipmp: Any) -> None:
    conv = ipmp.conversation("192.0.2.10")

    ipmp.move("nic0", "host", "holding")  # pulled out, no cfgadm
    assert ipmp.wait_for_addresses("nic1", [V4_10, V6_10], timeout=5), ipmp.snapshot()
    assert_alive(conv, ipmp)

    ipmp.move("nic0", "holding", "host")  # plugged back in
    assert ipmp.wait_for_addresses("nic0", [V4_10, V6_10], timeout=5), ipmp.snapshot()
    assert ipmp.wait_for_addresses("nic1", [V4_10, V6_10], timeout=2, present=False), (
        ipmp.snapshot()
    )
    assert_alive(conv, ipmp)


# -- 6. missing at boot ---------------------------------------------------------


def test_6_nic_missing_at_boot_fails_over_then_back(make_lab: Callable[..., Any]) -> None:
    lab = make_lab()
    lab.move("nic0", "host", "holding")
    lab.start_rcmd()

    assert lab.wait_for_addresses("nic1", [V4_10, V6_10, V4_11], timeout=5), lab.snapshot()
    assert wait_until(lambda: FAILOVER_MSG in lab.rcmd_log(), 5), lab.snapshot()

    lab.move("nic0", "holding", "host")
    assert lab.wait_for_addresses("nic0", [V4_10, V6_10], timeout=5), lab.snapshot()
    assert lab.wait_for_addresses("nic1", [V4_10], timeout=2, present=False), lab.snapshot()


def test_6b_all_nics_missing_at_boot(make_lab: Callable[..., Any]) -> None:
    lab = make_lab()
    lab.move("nic0", "host", "holding")
    lab.move("nic1", "host", "holding")
    lab.start_rcmd()
    assert wait_until(lambda: NO_ALTERNATIVE_MSG in lab.rcmd_log(), 5), lab.snapshot()
    assert lab.rcmd_running(), lab.snapshot()


# -- 7. a NIC in no group ---------------------------------------------------------


def test_7_ungrouped_nic_with_address_is_vetoed(make_lab: Callable[..., Any]) -> None:
    lab = start(make_lab(ungrouped=["nic2"]))
    # added out of order: the kernel lists them as added, rcm in numeric order, IPv4 first
    for cidr in ("2001:db8:5::5/64", "198.51.100.20/24", "198.51.100.5/24"):
        lab.host("addr", "add", cidr, "dev", "nic2", "nodad")

    r = lab.cfgadm("-c", "unconfigure", "net:nic2")
    assert r.returncode == 1, show(r, lab)
    assert "nic2" in r.stderr, show(r, lab)
    # The veto table wraps its Information column to 80 columns: read it as one text.
    text = " ".join(r.stderr.split())
    assert "198.51.100.5/24, 198.51.100.20/24, 2001:db8:5::5/64" in text, show(r, lab)
    assert "198.51.100.5/24" in lab.addresses("nic2"), show(r, lab)

    r = cfgadm_ok(lab, "-f", "-c", "unconfigure", "net:nic2")
    assert "nic2" not in lab.links_in("host"), show(r, lab)
    assert "nic2" in lab.links_in("holding"), show(r, lab)


# -- an empty receptacle ----------------------------------------------------------


def test_a_configured_nic_that_is_absent_is_an_empty_receptacle(
    make_lab: Callable[..., Any],
) -> None:
    """The IPMP handler registers nic9 by name; the net plugin, which reads no IPMP file,
    lists it as an empty receptacle (cfgadm in-process here: no rcmd needed)."""
    interfaces = {**rcm_lab.DEFAULT_INTERFACES, "nic9": {"group": "g"}}
    lab = make_lab(interfaces=interfaces)
    r = cfgadm_ok(lab, "-l", "net:nic9")
    row = r.stdout.splitlines()[1].split()
    assert row == ["net:nic9", "unknown", "empty", "unconfigured", "unknown"], show(r, lab)
    r = cfgadm_ok(lab, "-lv", "-s", "noheadings,cols=ap_id:info", "net:nic9")
    assert "configured but not present" in r.stdout, show(r, lab)
    r = cfgadm_ok(lab, "-s", "noheadings,cols=ap_id")
    assert r.stdout.split() == ["net:nic0", "net:nic1", "net:nic9"], show(r, lab)


# -- configuration errors ----------------------------------------------------------


def test_malformed_config_stops_rcmd_with_one_line(make_lab: Callable[..., Any]) -> None:
    bad = dict(rcm_lab.DEFAULT_INTERFACES)
    bad["nic0"] = {**bad["nic0"], "addresses": ["192.0.2.300/24"]}
    lab = make_lab(interfaces=bad)
    t0 = time.monotonic()
    with pytest.raises(RcmdError) as caught:
        lab.start_rcmd(timeout=10)
    assert time.monotonic() - t0 < 10
    err = caught.value
    assert err.returncode not in (None, 0), str(err)
    assert "Traceback" not in err.log, err.log
    named = [line for line in err.log.splitlines() if "nic0.toml" in line and "addresses" in line]
    assert named, f"no line names nic0.toml and addresses:\n{err.log}"


# -- the harness itself (needs no product) --------------------------------------------


def _gone(names: list[str]) -> list[str]:
    """The names of ``names`` that still exist as namespaces."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    present = {line.split()[0] for line in listed.splitlines() if line.split()}
    return [n for n in names if n in present or Path("/run/netns", n).exists()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    except OSError:
        pass
    return ""


def test_harness_conversation_and_cleanup_after_exception(lab: None) -> None:
    """A conversation works over an address added by hand, and close() after an exception
    leaves no namespace, process or temporary folder."""
    with pytest.raises(RuntimeError, match="boom"), Lab() as made:
        names = made.namespaces()
        assert len(names) == 4 and _gone(names) == names
        made.host("addr", "add", V4_10, "dev", "nic0")
        made.host("addr", "add", V6_10, "dev", "nic0", "nodad")
        convs = [made.conversation("192.0.2.10"), made.conversation("2001:db8::10")]
        for conv in convs:
            assert conv.wait_for_more(10, 5), conv.describe()
            assert not conv.broken() and conv.errors() == [], conv.describe()
        pids = made.processes()
        tmp = made.tmp
        raise RuntimeError("boom")
    assert _gone(names) == []
    assert not [p for p in pids if _pid_alive(p)]
    assert tmp is not None and not tmp.exists()


CHILD = r"""
import sys, time, importlib.util
try:
    import rcm_lab
except ImportError:
    spec = importlib.util.spec_from_file_location(
        "rcm_lab", sys.argv[1] + "/lab/__init__.py",
        submodule_search_locations=[sys.argv[1] + "/lab"])
    rcm_lab = importlib.util.module_from_spec(spec)
    sys.modules["rcm_lab"] = rcm_lab
    spec.loader.exec_module(rcm_lab)
rcm_lab.raise_on_signals()
with rcm_lab.Lab() as lab:
    lab.host("addr", "add", "192.0.2.10/24", "dev", "nic0")
    conv = lab.conversation("192.0.2.10")
    print(" ".join(lab.namespaces()), conv._client.pid, conv._server.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_harness_cleans_up_on_signal(lab: None, signum: int) -> None:
    """What the demo relies on: a signal unwinds ``with Lab()`` and removes everything."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(REPO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert len(line) == 6, child.stderr.read() if child.stderr else ""
        names, pids = line[:4], [int(p) for p in line[4:]]
        assert _gone(names) == names
        child.send_signal(signum)
        child.wait(15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _gone(names) == []
    assert not [p for p in pids if _pid_alive(p)]
