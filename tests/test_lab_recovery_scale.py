"""Crash recovery at scale: an IPMP group of 10,000 data addresses, rcmd killed mid-operation.

The promise is the one tests/test_lab_recovery.py checks with two addresses: whatever point
rcmd dies at, the next start completes or rolls back the operation and the system is
consistent again.  Here with 10,000 data addresses on nic0 (198.18.0.0/15, besides the lab's
192.0.2.10/24 and 2001:db8::10/64), where an interrupted move leaves 10,000 copies behind:

- every restart *converges*: every configured data address on exactly one usable member of its
  group, none on the parked NIC (the holding namespace);
- rcmd says "restored" only for a state it saw; otherwise what it knows;
- a handler that runs past its timeout while recovering leaves rcmd answering, the operation
  marked failed, and the next reconcile finishing the job.

Convergence is asserted, never a duration: the time each recovery takes is measured by
bench/bench_recovery.py and documented in docs/performance.md.  The polling bounds below only
keep a broken recovery from hanging the run.  Marked ``scale`` as well as ``lab`` so that it
can be selected (``-m scale``) or left out (``-m "not scale"``) as a whole; CI runs it.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from rcm_lab import DEFAULT_INTERFACES, Lab, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.scale]

N = 10_000
V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"
CONVERGE = 120.0  # seconds: only a bound against hanging, never asserted as a speed


def data_addresses(n: int = N, base: str = "198.18.0.10") -> list[str]:
    """N IPv4 addresses in the benchmarking range 198.18.0.0/15."""
    first = int(ipaddress.IPv4Address(base))
    return [f"{ipaddress.IPv4Address(first + i)}/15" for i in range(n)]


DATA = data_addresses()
NIC0_DATA = [V4_10, V6_10, *DATA]
NIC1_DATA = [V4_11, V6_11]


def interfaces() -> dict[str, Any]:
    nic0 = dict(DEFAULT_INTERFACES["nic0"])
    nic0["addresses"] = NIC0_DATA
    return {"nic0": nic0, "nic1": dict(DEFAULT_INTERFACES["nic1"])}


@pytest.fixture
def big(lab: None) -> Iterator[Lab]:
    """A built lab whose nic0 homes 10,002 data addresses (closed afterwards, pass or fail)."""
    made = Lab(interfaces=interfaces())
    try:
        made.build()
        yield made
    finally:
        made.close()


# -- looking at 20,000 addresses quickly ------------------------------------------------------


def placement(lab: Lab) -> dict[str, list[str]]:
    """cidr -> ["host:nic0", "holding:nic0", ...]: every global address of both namespaces.

    One ``ip -o addr`` per namespace (``Lab.addresses`` runs one ``ip -j`` per link and
    parses JSON: too slow to poll with 20,000 addresses)."""
    where: dict[str, list[str]] = defaultdict(list)
    for role in ("host", "holding"):
        r = subprocess.run(
            ["ip", "-n", lab.ns[role], "-o", "addr", "show", "scope", "global"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in r.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] in ("inet", "inet6"):
                where[fields[3]].append(f"{role}:{fields[1]}")
    return where


def summary(where: dict[str, list[str]]) -> str:
    """How many of the group's data addresses are where: the short form of a snapshot."""
    counts: dict[str, int] = defaultdict(int)
    for cidr in NIC0_DATA + NIC1_DATA:
        counts[" + ".join(sorted(where.get(cidr, []))) or "nowhere"] += 1
    return ", ".join(f"{n} on {w}" for w, n in sorted(counts.items()))


def violations(lab: Lab, expected: str) -> str:
    """The empty string if the group converged to ``expected``, else what is wrong.

    Converged: every configured data address on exactly one usable member of the group,
    none in the holding namespace.  ``restored``: nic0 in the host and up, each address
    on its home NIC (the group fails back).  ``detached``: nic0 parked, all on nic1.
    """
    where = placement(lab)
    wrong = []
    for cidr, home in [(c, "nic0") for c in NIC0_DATA] + [(c, "nic1") for c in NIC1_DATA]:
        want = f"host:{home}" if expected == "restored" else "host:nic1"
        if where.get(cidr, []) != [want]:
            wrong.append(f"{cidr} on {where.get(cidr) or 'nothing'} (want {want})")
    if expected == "restored" and not lab.link_up("nic0"):
        wrong.insert(0, "nic0 is not up in the host")
    if expected == "detached" and "nic0" not in lab.links_in("holding"):
        wrong.insert(0, "nic0 is not in the holding namespace")
    if not wrong:
        return ""
    return f"{len(wrong)} wrong ({summary(where)}); first: " + "; ".join(wrong[:5])


def converged(lab: Lab, expected: str) -> str:
    """Wait (bounded) until :func:`violations` is empty; returns the last violations."""
    last = [""]

    def ok() -> bool:
        last[0] = violations(lab, expected)
        return not last[0]

    wait_until(ok, CONVERGE, interval=0.5)
    return last[0]


def show(lab: Lab, r: subprocess.CompletedProcess[str] | None = None) -> str:
    head = ""
    if r is not None:
        head = f"$ cfgadm ...\nexit {r.returncode}\n--- stdout ---\n{r.stdout}\n"
        head += f"--- stderr ---\n{r.stderr}\n"
    log = lab.rcmd_log(since_start=False).splitlines()
    return (
        head
        + "placement: "
        + summary(placement(lab))
        + "\n--- rcmd log (last 40 lines) ---\n"
        + "\n".join(log[-40:])
    )


# -- rcmd ----------------------------------------------------------------------------------


def start_rcmd(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, failpoint: str | None = None
) -> subprocess.Popen[bytes]:
    """Start rcmd (``RCM_FAILPOINT`` armed for this spawn only) and wait until it listens."""
    with monkeypatch.context() as m:
        if failpoint is not None:
            m.setenv("RCM_FAILPOINT", failpoint)
        else:
            m.delenv("RCM_FAILPOINT", raising=False)
        return lab.start_rcmd(timeout=CONVERGE)


def assert_killed(lab: Lab, proc: Any, r: subprocess.CompletedProcess[str]) -> None:
    assert wait_until(lambda: proc.poll() is not None, 30), "rcmd still runs\n" + show(lab, r)
    assert proc.returncode == -signal.SIGKILL, show(lab, r)
    assert r.returncode == 1 and "Traceback" not in r.stderr, show(lab, r)


def recovery_lines(lab: Lab) -> list[str]:
    return [line for line in lab.rcmd_log().splitlines() if "recovered operation" in line]


def cfgadm_ok(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    r = lab.cfgadm(*args, timeout=CONVERGE)
    assert r.returncode == 0, show(lab, r)
    return r


def started(lab: Lab, monkeypatch: pytest.MonkeyPatch, failpoint: str) -> subprocess.Popen[bytes]:
    """rcmd running (with ``failpoint`` armed) and the group placed: all 10,002 on nic0."""
    proc = start_rcmd(lab, monkeypatch, failpoint)
    problem = converged(lab, "restored")
    assert not problem, problem + "\n" + show(lab)
    return proc


# -- fault 1 (issue 9) -------------------------------------------------------------------------


def test_interrupted_10000_address_move_is_rolled_back_and_rcmd_stays_usable(
    big: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rcmd killed in the middle of moving 10,000 addresses (every one added on nic1, none
    yet deleted from nic0): the next start removes the 10,002 copies, says "restored" only
    once it is, and every later change works (nothing left "still stuck")."""
    lab = big
    proc = started(lab, monkeypatch, "ipmp.move.added")
    conv = lab.conversation("192.0.2.10")
    assert conv.wait_for_more(5, 10), conv.describe()

    r = lab.cfgadm("-f", "-c", "unconfigure", "net:nic0", timeout=CONVERGE)
    assert_killed(lab, proc, r)
    where = placement(lab)
    copies = [c for c in NIC0_DATA if sorted(where.get(c, [])) == ["host:nic0", "host:nic1"]]
    assert len(copies) == len(NIC0_DATA), "the failpoint left no copies\n" + show(lab)

    start_rcmd(lab, monkeypatch)
    problem = converged(lab, "restored")
    assert not problem, problem + "\n" + show(lab)
    lines = recovery_lines(lab)
    assert len(lines) == 1, show(lab)
    assert "unconfigure net:nic0" in lines[0] and "rolled back" in lines[0], show(lab)
    assert "Traceback" not in lab.rcmd_log(since_start=False), show(lab)
    assert conv.wait_for_more(5, 10) and not conv.broken(), conv.describe()

    # Nothing stuck: rcmd answers, and the detach it could not finish now works.
    r = cfgadm_ok(lab, "-l", "net:nic0")
    assert r.stdout.splitlines()[1].split()[-2] == "configured", show(lab, r)
    cfgadm_ok(lab, "-c", "unconfigure", "net:nic0")
    problem = converged(lab, "detached")
    assert not problem, problem + "\n" + show(lab)
    cfgadm_ok(lab, "-c", "configure", "net:nic0")
    problem = converged(lab, "restored")
    assert not problem, problem + "\n" + show(lab)


# -- the kill matrix at scale -------------------------------------------------------------------

# failpoint -> (end state, what the recovery log line says); as in tests/test_lab_recovery.py.
# ipmp.move.added, the point inside the move, is the fault-1 test above.
DETACH_POINTS: dict[str, tuple[str, str]] = {
    "query.done": ("restored", "had changed nothing"),
    "offline.step": ("restored", "rolled back"),
    "offline.done": ("restored", "rolled back"),
    "hardware.done": ("detached", "completed"),
    "remove.done": ("detached", "completed"),
}


def recovered(lab: Lab, monkeypatch: pytest.MonkeyPatch, expected: str, says: str) -> None:
    """Restart rcmd; it recovers the one interrupted operation and the group converges."""
    start_rcmd(lab, monkeypatch)
    problem = converged(lab, expected)
    assert not problem, problem + "\n" + show(lab)
    lines = recovery_lines(lab)
    assert len(lines) == 1 and says in lines[0], show(lab)
    assert "Traceback" not in lab.rcmd_log(since_start=False), show(lab)
    r = cfgadm_ok(lab, "-l", "net:nic0")
    want = "configured" if expected == "restored" else "unconfigured"
    assert r.stdout.splitlines()[1].split()[-2] == want, show(lab, r)


@pytest.mark.parametrize("point", list(DETACH_POINTS))
def test_detach_of_10000_addresses_killed_at_failpoint_converges(
    big: Lab, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    lab = big
    expected, says = DETACH_POINTS[point]
    proc = started(lab, monkeypatch, point)
    r = lab.cfgadm("-c", "unconfigure", "net:nic0", timeout=CONVERGE)
    assert_killed(lab, proc, r)
    recovered(lab, monkeypatch, expected, says)


def test_attach_of_10000_addresses_killed_after_hardware_step_converges(
    big: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = big
    proc = started(lab, monkeypatch, "attach.hardware.done")
    cfgadm_ok(lab, "-c", "unconfigure", "net:nic0")
    problem = converged(lab, "detached")
    assert not problem, problem + "\n" + show(lab)
    r = lab.cfgadm("-c", "configure", "net:nic0", timeout=CONVERGE)
    assert_killed(lab, proc, r)
    recovered(lab, monkeypatch, "restored", "completed")


def test_every_failpoint_is_in_the_matrix() -> None:
    from rcm.failpoints import POINTS

    assert set(POINTS) == {*DETACH_POINTS, "ipmp.move.added", "attach.hardware.done"}
