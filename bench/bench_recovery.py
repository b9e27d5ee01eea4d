"""Benchmark: crash recovery of an IPMP group of 10,000 data addresses, per failpoint,
beside ``ip -batch`` adding and deleting the same 10,000 addresses, in the same run.

Not a test (tests/test_lab_recovery_scale.py asserts that each recovery converges; this
measures how long it takes).  For each failpoint of a detach (and of an attach), each round:
rcmd is started with ``RCM_FAILPOINT=<point>`` and the group placed (10,002 addresses on
nic0), ``cfgadm -c unconfigure net:nic0`` (or ``configure``) makes rcmd SIGKILL itself at the
point, and rcmd is started again.  Timed from that start:

- listening:  until rcmd's control socket accepts (rcmd recovers the journal and reconciles
              before it listens: this is how long cfgadm must wait);
- converged:  until every data address is on exactly one usable member and none on the
              parked NIC (polled with ``ip -o addr`` every 0.1 s: ~0.1 s granularity);
- recovery:   rcmd's own figure for the recovery of the interrupted operation (its log line
              "recovered operation ... (in N ms)"), without process start and reconcile.

Baseline, same lab, rcmd stopped: ``ip -batch`` adding the 10,000 198.18/15 addresses to nic1
(the copies an interrupted move leaves) and deleting them again, in reverse order (secondaries
first, as rcm does: forward order makes the kernel promote a secondary on each delete).
Undoing an interrupted move costs about one delete of them; moving them back costs an add and
a delete.  The machine is shared and noisy: medians over the rounds, and the ratios say more
than the milliseconds.

Run as root:  python bench/bench_recovery.py [--rounds 3] [--points offline.done,...] [--json F]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rcm_lab import DEFAULT_INTERFACES, Lab, raise_on_signals, wait_until

N = 10_000

# failpoint -> (action killed, state after recovery)
POINTS: dict[str, tuple[str, str]] = {
    "query.done": ("unconfigure", "restored"),
    "offline.step": ("unconfigure", "restored"),
    "ipmp.move.added": ("unconfigure", "restored"),
    "offline.done": ("unconfigure", "restored"),
    "hardware.done": ("unconfigure", "detached"),
    "remove.done": ("unconfigure", "detached"),
    "attach.hardware.done": ("configure", "restored"),
}


def data_addresses(n: int = N, base: str = "198.18.0.10") -> list[str]:
    first = int(ipaddress.IPv4Address(base))
    return [f"{ipaddress.IPv4Address(first + i)}/15" for i in range(n)]


DATA = data_addresses()
NIC0 = ["192.0.2.10/24", "2001:db8::10/64", *DATA]
NIC1 = ["192.0.2.11/24", "2001:db8::11/64"]


def placement(lab: Lab) -> dict[str, list[str]]:
    where: dict[str, list[str]] = defaultdict(list)
    for role in ("host", "holding"):
        out = subprocess.run(
            ["ip", "-n", lab.ns[role], "-o", "addr", "show", "scope", "global"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 4 and f[2] in ("inet", "inet6"):
                where[f[3]].append(f"{role}:{f[1]}")
    return where


def converged(lab: Lab, state: str) -> bool:
    where = placement(lab)
    for cidr, home in [(c, "nic0") for c in NIC0] + [(c, "nic1") for c in NIC1]:
        want = f"host:{home}" if state == "restored" else "host:nic1"
        if where.get(cidr) != [want]:
            return False
    return True


def start(lab: Lab, failpoint: str | None) -> subprocess.Popen[bytes]:
    if failpoint:
        os.environ["RCM_FAILPOINT"] = failpoint
    try:
        return lab.start_rcmd(timeout=300)
    finally:
        os.environ.pop("RCM_FAILPOINT", None)


def cfgadm(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.cfgadm(*args, timeout=300)


def settle(lab: Lab, state: str) -> None:
    if not wait_until(lambda: converged(lab, state), 300, interval=0.2):
        raise SystemExit(f"bench: the group did not converge to {state}\n{lab.rcmd_log_tail()}")


def restore(lab: Lab) -> None:
    """nic0 back in the host with its addresses, rcmd stopped."""
    if not lab.rcmd_running():
        start(lab, None)
    if "nic0" in lab.links_in("holding"):
        cfgadm(lab, "-c", "configure", "net:nic0")
    settle(lab, "restored")
    lab.stop_rcmd()


def one_round(lab: Lab, point: str) -> dict[str, float]:
    action, state = POINTS[point]
    restore(lab)
    proc = start(lab, point)
    settle(lab, "restored")
    if action == "configure":
        r = cfgadm(lab, "-c", "unconfigure", "net:nic0")
        if r.returncode != 0:
            raise SystemExit(f"bench: unconfigure failed: {r.stderr}")
        settle(lab, "detached")
    cfgadm(lab, "-c", action, "net:nic0")
    if not wait_until(lambda: proc.poll() is not None, 60):
        raise SystemExit(f"bench: rcmd did not die at {point}")
    t0 = time.perf_counter()
    start(lab, None)
    listening = time.perf_counter() - t0
    wait_until(lambda: converged(lab, state), 300, interval=0.1)
    done = time.perf_counter() - t0
    found = re.findall(r"recovered operation .*\(in ([0-9]+) ms\)", lab.rcmd_log())
    if len(found) != 1:
        raise SystemExit(f"bench: no recovery line after {point}\n{lab.rcmd_log_tail()}")
    lab.stop_rcmd()
    return {"listening": listening, "converged": done, "recovery": float(found[0]) / 1000}


def baseline(lab: Lab) -> dict[str, float]:
    """``ip -batch`` adding DATA to nic1 and deleting it again (reverse order)."""
    restore(lab)
    host = ["ip", "-n", lab.ns["host"], "-batch", "-"]
    add = "".join(f"addr add {a} dev nic1\n" for a in DATA)
    delete = "".join(f"addr del {a} dev nic1\n" for a in reversed(DATA))
    out = {}
    for name, text in (("add", add), ("delete", delete)):
        t0 = time.perf_counter()
        subprocess.run(host, input=text, text=True, check=True, capture_output=True)
        out[name] = time.perf_counter() - t0
    return out


def interfaces() -> dict[str, Any]:
    nic0 = dict(DEFAULT_INTERFACES["nic0"])
    nic0["addresses"] = NIC0
    return {"nic0": nic0, "nic1": dict(DEFAULT_INTERFACES["nic1"])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--points", default=",".join(POINTS))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    raise_on_signals()
    rows = []
    with Lab(interfaces=interfaces()) as lab:
        for point in args.points.split(","):
            runs, base = [], []
            for _ in range(args.rounds):
                runs.append(one_round(lab, point))
                base.append(baseline(lab))
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            add = statistics.median(b["add"] for b in base)
            delete = statistics.median(b["delete"] for b in base)
            rows.append(
                {
                    "failpoint": point,
                    "rounds": args.rounds,
                    "listening_ms": round(med["listening"] * 1000),
                    "converged_ms": round(med["converged"] * 1000),
                    "recovery_ms": round(med["recovery"] * 1000),
                    "worst_converged_ms": round(max(r["converged"] for r in runs) * 1000),
                    "ip_batch_add_ms": round(add * 1000),
                    "ip_batch_delete_ms": round(delete * 1000),
                    "converged_vs_add_delete": round(med["converged"] / (add + delete), 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    cols = [
        ("failpoint", "failpoint"),
        ("recovery_ms", "recovery"),
        ("listening_ms", "listening"),
        ("converged_ms", "converged"),
        ("worst_converged_ms", "worst"),
        ("ip_batch_add_ms", "ip add"),
        ("ip_batch_delete_ms", "ip del"),
        ("converged_vs_add_delete", "converged / (add+del)"),
    ]
    print("  ".join(f"{h:>20}" for _k, h in cols))
    for row in rows:
        print("  ".join(f"{row[k]!s:>20}" for k, _h in cols))
    print(
        f"(ms, medians of {args.rounds} rounds with {N} + 2 data addresses; 'worst' is the"
        " slowest round's converged; ip add/del: ip -batch of the same 10,000 addresses on nic1,"
        " same run, rcmd stopped)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
