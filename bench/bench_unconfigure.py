"""Benchmark: ``cfgadm -c unconfigure`` of a NIC homing N data addresses,
beside ``ip -batch`` doing the same address moves, in the same run.

Not a test: it prints medians and ratios (and writes JSON with --json).  The
machine is noisy, so each round times both, alternating, and the figures are
medians over the rounds.

What is timed, both run the same way (``ip netns exec <host> ...``, a new
process each, as an admin would):

- rcm:      ``cfgadm -c unconfigure net:nic0`` with rcmd running: query, the
            IPMP handler moves N addresses to nic1 (add, announce with
            gratuitous ARP, delete), nic0 moves to the holding namespace,
            remove.  Then (untimed) ``cfgadm -c configure net:nic0`` fails
            them back for the next round.
- ip-batch: ``ip -batch`` adding N addresses to nic1 and deleting them
            from nic0.  They are N other addresses of the same subnet, not
            rcm's: rcmd would rightly put its own data addresses back home
            (failback) while the baseline moved them by hand.  Before: (untimed)
            they are added to nic0; after: (untimed) deleted from nic1, so
            that nic0 carries nothing foreign when cfgadm detaches it.
- cfgadm-l: ``cfgadm -l net:nic1``: the fixed cost of starting cfgadm and
            asking rcmd, for reading the others.
- rcmd:     the operation's own time inside rcmd (from its log line
            "unconfigure net:nic0: done in X ms"): query, offline, hardware,
            remove, without cfgadm's process start.
- paired:   each round's own ratios (cfgadm / ip -batch, rcmd / ip -batch),
            medians over the rounds: steadier than the ratio of medians when
            the load changes between rounds.
- best:     the fastest round of each, as ratios: on a machine shared with
            other work (which also takes the kernel's RTNL lock, shared by
            every namespace) the least disturbed estimate of each cost.
- cpu:      CPU time (user + system, the kernel's netlink work included)
            that rcmd's threads and the ``ip -batch`` process used: what the
            work costs whatever else the machine is doing.  Sleeps (the
            namespace move waits for RCU) are not in it.

Run as root:  python bench/bench_unconfigure.py [--sizes 1,100,1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rcm_lab import Lab, raise_on_signals


def data_addresses(n: int, base: str = "198.18.0.10") -> list[str]:
    """N IPv4 addresses in the benchmarking range 198.18.0.0/15, /15 each."""
    first = int(ipaddress.IPv4Address(base))
    return [f"{ipaddress.IPv4Address(first + i)}/15" for i in range(n)]


def engine_ms(log: str) -> float:
    """rcmd's own time for the last unconfigure (its log: "... done in X ms")."""
    found = re.findall(r"unconfigure net:nic0: done in ([0-9.]+) ms", log)
    if not found:
        raise SystemExit("bench: rcmd did not log the unconfigure\n" + log[-2000:])
    return float(found[-1])


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds every thread of ``pid`` has run (schedstat: ns, not ticks)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def timed(argv: list[str], env: dict[str, str], stdin: str | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        first = (stdin or "").split("\n", 1)[0]
        raise SystemExit(
            f"bench: {' '.join(argv)} failed ({r.returncode}) [{first} ...]:\n{r.stderr}"
        )
    return elapsed


def bench_size(n: int, rounds: int) -> dict[str, object]:
    addrs = data_addresses(n)
    interfaces = {
        "nic0": {"group": "g", "addresses": addrs, "test_addresses": [], "standby": False},
        "nic1": {
            "group": "g",
            "addresses": ["192.0.2.11/24"],
            "test_addresses": [],
            "standby": False,
        },
    }
    with Lab(interfaces=interfaces) as lab:
        rcmd_pid = lab.start_rcmd(timeout=60).pid  # ip netns exec execs rcmd: same pid
        ends = addrs[:1] + addrs[-1:]
        # Settled: on nic0 and no copy left on nic1 (a failback in progress
        # adds on nic0 before it deletes from nic1).
        if not (
            lab.wait_for_addresses("nic0", ends, timeout=60)
            and lab.wait_for_addresses("nic1", ends, timeout=60, present=False)
        ):
            raise SystemExit("bench: rcmd did not place the addresses\n" + lab.snapshot())
        env = lab.env()
        host = ["ip", "netns", "exec", lab.ns["host"]]
        cfgadm = host + [str(Path(sys.executable).with_name("cfgadm"))]
        other = data_addresses(n, base="198.19.0.10")
        setup = "".join(f"addr add {a} dev nic0\n" for a in other)
        forward = "".join(f"addr add {a} dev nic1\n" for a in other) + "".join(
            f"addr del {a} dev nic0\n" for a in other
        )
        cleanup = "".join(f"addr del {a} dev nic1\n" for a in other)
        rcm_t, ip_t, list_t, engine_t = [], [], [], []
        rcmd_cpu, ip_cpu = [], []
        for _ in range(rounds):
            timed(host + ["ip", "-batch", "-"], env, setup)
            cpu0 = children_cpu()
            ip_t.append(timed(host + ["ip", "-batch", "-"], env, forward))
            ip_cpu.append(children_cpu() - cpu0)
            timed(host + ["ip", "-batch", "-"], env, cleanup)
            time.sleep(0.3)  # let rcmd finish the events of the last round
            cpu0 = process_cpu(rcmd_pid)
            rcm_t.append(timed(cfgadm + ["-c", "unconfigure", "net:nic0"], env))
            rcmd_cpu.append(process_cpu(rcmd_pid) - cpu0)
            engine_t.append(engine_ms(lab.rcmd_log()) / 1000)
            moved = lab.addresses("nic1")
            if not (addrs[0] in moved and addrs[-1] in moved):
                raise SystemExit("bench: addresses did not move\n" + lab.snapshot())
            timed(cfgadm + ["-c", "configure", "net:nic0"], env)
            if not (
                lab.wait_for_addresses("nic0", ends, timeout=30)
                and lab.wait_for_addresses("nic1", ends, timeout=30, present=False)
            ):
                raise SystemExit("bench: addresses did not fail back\n" + lab.snapshot())
            list_t.append(timed(cfgadm + ["-l", "net:nic1"], env))
    rcm_m, ip_m, list_m, eng_m = (statistics.median(x) for x in (rcm_t, ip_t, list_t, engine_t))
    # Each round times both back to back: the ratio within a round is less
    # exposed to the machine's load changing between rounds (other processes
    # take the kernel's RTNL lock, which every namespace shares).
    paired = statistics.median(r / i for r, i in zip(rcm_t, ip_t, strict=True))
    paired_rcmd = statistics.median(e / i for e, i in zip(engine_t, ip_t, strict=True))
    return {
        "addresses": n,
        "rounds": rounds,
        "cfgadm_unconfigure_ms": round(rcm_m * 1000, 1),
        "ip_batch_ms": round(ip_m * 1000, 1),
        "ratio": round(rcm_m / ip_m, 2),
        "cfgadm_list_ms": round(list_m * 1000, 1),
        "rcmd_operation_ms": round(eng_m * 1000, 1),
        "rcmd_ratio": round(eng_m / ip_m, 2),
        "paired_ratio": round(paired, 2),
        "paired_rcmd_ratio": round(paired_rcmd, 2),
        "best_cfgadm_unconfigure_ms": round(min(rcm_t) * 1000, 1),
        "best_ip_batch_ms": round(min(ip_t) * 1000, 1),
        "best_rcmd_operation_ms": round(min(engine_t) * 1000, 1),
        "best_ratio": round(min(rcm_t) / min(ip_t), 2),
        "best_rcmd_ratio": round(min(engine_t) / min(ip_t), 2),
        "rcmd_cpu_ms": round(statistics.median(rcmd_cpu) * 1000, 1),
        "ip_batch_cpu_ms": round(statistics.median(ip_cpu) * 1000, 1),
        "cpu_ratio": round(statistics.median(rcmd_cpu) / max(statistics.median(ip_cpu), 1e-6), 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,100,1000")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    raise_on_signals()  # SIGTERM/SIGHUP unwind through Lab.close() like Ctrl-C
    results = [bench_size(int(n), args.rounds) for n in args.sizes.split(",")]
    cols = (
        "addresses",
        "cfgadm unconfigure",
        "ip -batch",
        "ratio",
        "rcmd alone",
        "rcmd ratio",
        "cfgadm -l",
        "paired ratios",
        "best ratios",
        "cpu rcmd / ip",
    )
    print("  ".join(f"{c:>{max(len(c), 9)}}" for c in cols))
    for r in results:
        values = (
            r["addresses"],
            f"{r['cfgadm_unconfigure_ms']} ms",
            f"{r['ip_batch_ms']} ms",
            r["ratio"],
            f"{r['rcmd_operation_ms']} ms",
            r["rcmd_ratio"],
            f"{r['cfgadm_list_ms']} ms",
            f"{r['paired_ratio']} / {r['paired_rcmd_ratio']}",
            f"{r['best_ratio']} / {r['best_rcmd_ratio']}",
            f"{r['rcmd_cpu_ms']} / {r['ip_batch_cpu_ms']} ms",
        )
        print("  ".join(f"{v!s:>{max(len(c), 9)}}" for c, v in zip(cols, values, strict=True)))
    print(
        f"(medians of {args.rounds} rounds; both timed as new processes under ip netns exec;"
        " paired ratios: the median of each round's cfgadm / ip -batch and rcmd / ip -batch;"
        " best ratios: the fastest of each over the rounds, least disturbed by other load;"
        " cpu: CPU time rcmd (all threads) and ip -batch used, medians)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
