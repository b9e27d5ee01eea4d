"""The IPMP prober alone, two versions of it alternating in one lab: what a
change to the probing code does to its CPU cost, with the noise of the
machine shared by both (same lab, same minutes, rounds interleaved).

    python bench/probe_ab.py [--seconds 12] [--rounds 3] NAME=SRC [NAME=SRC ...]

SRC is a tree's ``src`` directory (e.g. a ``git worktree`` of the older
commit: ``git worktree add /tmp/old HEAD~1``, then ``old=/tmp/old/src``);
NAME=floor runs bench/probe_floor.py (the same probes from a bare loop).
The lab is bench_probe.py's CPU lab with the wire modelled (switch ports
receiving on kernel threads of their own): 100 members with /32 test
addresses in one group on one subnet, probing one target at 100 ms; with
``--layout pairs``, 50 groups of two, each on a subnet and with a target of
its own (probe_floor.member).  Each version runs
:class:`rcm_ipmp.probing.Prober` in a process of its own in the host
namespace (``--child``), with no rcmd around it, and prints its CPU time.
Prints each run, then the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEMBERS, FDT_MS = 100, 100


def child(seconds: float, layout: str) -> int:
    """Run the prober of whatever tree is first on sys.path; print its CPU."""
    from probe_floor import member
    from rcm_ipmp.probing import ProbeConfig, Prober

    places = [member(i, layout) for i in range(MEMBERS)]
    configs = [
        ProbeConfig(f"nic{i}", m.group, m.test, FDT_MS, (m.target,)) for i, m in enumerate(places)
    ]
    prober = Prober(routes=lambda: [], local_addresses=lambda: set())
    prober.configure(configs)
    stop = threading.Event()
    events: list[object] = []
    thread = threading.Thread(target=prober.run, args=(events.append, stop))
    thread.start()
    time.sleep(3)  # past the start: every member probing
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    time.sleep(seconds)
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    stop.set()
    prober._wake()
    thread.join()
    snap = prober.snapshot()
    sent = sum(int(v["sent"]) for v in snap.values())  # type: ignore[call-overload]
    answered = sum(int(v["answered"]) for v in snap.values())  # type: ignore[call-overload]
    lost = sum(int(v["lost"]) for v in snap.values())  # type: ignore[call-overload]
    out = {
        "seconds": wall,
        "user_s": r1.ru_utime - r0.ru_utime,
        "system_s": r1.ru_stime - r0.ru_stime,
        "sent": sent,
        "answered": answered,
        "lost": lost,
        "events": len(events),
    }
    print(json.dumps(out))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--layout", choices=("one", "pairs"), default="one", help="probe_floor.member")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("variants", nargs="*", help="NAME=SRC (a tree's src dir) or floor")
    args = p.parse_args()
    sys.path.insert(0, str(HERE))
    if args.child:
        return child(args.seconds, args.layout)
    if os.geteuid() != 0:
        print("probe_ab: needs root (network namespaces)", file=sys.stderr)
        return 2
    from bench_probe import floor_lab
    from rcm_lab import raise_on_signals

    raise_on_signals()
    results: dict[str, list[tuple[float, float, float]]] = {}
    with floor_lab(MEMBERS, "threads", args.layout) as lab:
        for _ in range(args.rounds):
            for variant in args.variants:
                name, _, src = variant.partition("=")
                if name == "floor":
                    argv = [sys.executable, str(HERE / "probe_floor.py"), str(MEMBERS)]
                    argv += [str(FDT_MS), str(args.seconds), args.layout]
                else:
                    argv = ["env", f"PYTHONPATH={src}", sys.executable, __file__, "--child"]
                    argv += ["--seconds", str(args.seconds), "--layout", args.layout]
                r = lab._run(lab.exec_argv("host", argv), timeout=args.seconds + 60)
                got = json.loads(r.stdout)
                user, system = (100 * got[k] / got["seconds"] for k in ("user_s", "system_s"))
                results.setdefault(name, []).append((user + system, user, system))
                print(
                    f"{name:>10}: {user + system:5.2f}% of a core (user {user:.2f}%, "
                    f"system {system:.2f}%), {got.get('lost', got['sent'] - got['answered'])} lost",
                    flush=True,
                )
    for name, rows in results.items():
        total, user, system = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{name:>10}: median {total:.2f}% (user {user:.2f}%, system {system:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
