"""Benchmark: probe-based failure detection (time, client-seen outage, CPU).

Not a test: it prints medians (and writes JSON with --json).  The failure is
the one probes exist for: nic0's switch port (``p-nic0``) is taken off the
bridge, so nic0 keeps its carrier but nothing it sends arrives.

- detection:  from taking the port off (the start of the ``ip`` command
              that does it) until the client's segment hears 192.0.2.10
              announced from nic1 (a sniffer in the client namespace: the
              detection plus the failover up to its first announcement), for each
              ``failure_detection_time_ms`` in ``--fdt`` (default 100, 1000,
              10000), as a ratio of the configured time.  Then the port goes
              back and the bench waits for the failback (ten answered probes).
- outage:     with 1 and 100 data addresses on nic0 and a 100 ms detection
              time, the longest pause of a TCP conversation with 192.0.2.10
              (and 2001:db8::10) from the port going off until it answers
              through nic1 (bench_outage.py's client and measure).
- cpu:        rcmd's CPU time (utime + stime, /proc) over ``--cpu-seconds``
              while probing ``--members`` members at 100 ms, against the same
              lab with no test addresses (link state only) in the same run.
              Twice: on the lab as it is, where the switch (a bridge) and the
              far host (the client's kernel answering) do their work inside
              rcmd's send call and are charged to rcmd as system time (veth
              hands a packet to its peer in the sender's context, and this
              kernel has no IRQ time accounting); and with the wire modelled
              (``wire=threads``): the switch ports' receive work on kernel
              threads of their own (GRO and threaded NAPI on each ``p-*``
              veth, no bridge netfilter), as a real NIC's transmit ends at
              the wire.  The difference is the lab's network, not rcmd.
              Beside each, the floor: the same probes at the same rate from
              a bare loop over rcm_netkit.probeio (probe_floor.py), the
              baseline rcmd's figure is read against.  ``--cpu-rounds N``
              runs the rows N times, interleaved, and prints each one's
              median and rcmd's median ratio to its floor (the host's steal
              time moves single windows by a third).

Run as root:  python bench/bench_probe.py [--fdt 100,1000,10000] [--sizes 1,100]
              [--members 100] [--cpu-seconds 60] [--cpu-rounds 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_outage import V6, Announcements, Bench, data_addresses  # noqa: E402
from probe_floor import member  # noqa: E402
from rcm_lab import Lab, LabError, raise_on_signals, wait_until  # noqa: E402

CLIENT_TARGET = "192.0.2.100"


def probed(data0: list[str], fdt: int) -> tuple[dict[str, Any], dict[str, Any]]:
    interfaces = {
        "nic0": {
            "group": "g",
            "addresses": data0,
            "test_addresses": ["192.0.2.20/24", "2001:db8::20/64"],
        },
        "nic1": {
            "group": "g",
            "addresses": ["192.0.2.11/24", "2001:db8::11/64"],
            "test_addresses": ["192.0.2.21/24", "2001:db8::21/64"],
        },
    }
    groups = {"g": {"failure_detection_time_ms": fdt, "targets": [CLIENT_TARGET]}}
    return interfaces, groups


def port(lab: Lab, attached: bool) -> None:
    lab.switch("link", "set", "p-nic0", *(("master", "br0") if attached else ("nomaster",)))


def probing_started(lab: Lab) -> None:
    if not wait_until(lambda: "nic0: probe targets" in lab.rcmd_log(), 30):
        raise LabError("nic0 never started probing\n" + lab.snapshot())


def bench_detection(fdt: int, rounds: int) -> dict[str, object]:
    interfaces, groups = probed(["192.0.2.10/24", f"{V6}/64"], fdt)
    samples = []
    with Lab(interfaces=interfaces, groups=groups) as lab:
        lab.start_rcmd(timeout=60)
        probing_started(lab)
        time.sleep(fdt / 1000)  # a few probes answered: state ok
        heard = Announcements(lab)
        for _ in range(rounds):
            start = time.monotonic()
            port(lab, attached=False)
            if not wait_until(lambda s=start: heard.first_after(s) is not None, fdt / 100, 0.005):
                raise LabError("no failover\n" + lab.snapshot())
            samples.append((heard.first_after(start) - start) * 1000)  # type: ignore[operator]
            port(lab, attached=True)
            if not wait_until(lambda: "192.0.2.10/24" in lab.addresses("nic0"), fdt / 50, 0.01):
                raise LabError("no failback\n" + lab.snapshot())
            time.sleep(fdt / 1000 / 7 * 2)
    median = statistics.median(samples)
    return {
        "failure_detection_time_ms": fdt,
        "rounds": rounds,
        "median_ms": round(median, 1),
        "max_ms": round(max(samples), 1),
        "median_ratio": round(median / fdt, 2),
        "all_ms": [round(s, 1) for s in samples],
    }


def bench_outage(n: int, rounds: int, fdt: int) -> dict[str, object]:
    addrs = data_addresses(n)
    interfaces, groups = probed([*addrs, f"{V6}/64"], fdt)
    gaps4, gaps6 = [], []
    with Lab(interfaces=interfaces, groups=groups) as lab:
        lab.start_rcmd(timeout=60)
        bench = Bench(lab, addrs, 0.01)
        if not bench.home():
            raise LabError("rcmd did not place the addresses\n" + lab.snapshot())
        probing_started(lab)
        time.sleep(1)
        for _ in range(rounds):
            gaps, _settle, _heard = bench.measure(lambda: port(lab, False), bench.away)
            gaps4.append(gaps[0])
            gaps6.append(gaps[1])
            bench.measure(lambda: port(lab, True), bench.home)
    return {
        "addresses": n,
        "failure_detection_time_ms": fdt,
        "rounds": rounds,
        "v4_median_ms": statistics.median(gaps4),
        "v6_median_ms": statistics.median(gaps6),
        "v4_all_ms": gaps4,
        "v6_all_ms": gaps6,
    }


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of every thread of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


WIRE_THREADS = r"""
import os
from pyroute2.ethtool import Ethtool
for key in ("iptables", "ip6tables", "arptables"):
    with open(f"/proc/sys/net/bridge/bridge-nf-call-{key}", "w") as f:
        f.write("0")
ethtool = Ethtool()
for name in os.listdir("/sys/class/net"):
    if name.startswith("p-"):
        features = ethtool.get_features(name)
        for key in ("rx-gro", "rx-gro-list"):
            features.features[key].enable = True
        ethtool.set_features(name, features)
        with open(f"/sys/class/net/{name}/threaded", "w") as f:
            f.write("1")
"""


def model_the_wire(lab: Lab) -> None:
    """Switch ports that receive on kernel threads of their own (see the
    module's docstring: ``wire=threads``)."""
    lab._run(lab.exec_argv("switch", [sys.executable, "-c", WIRE_THREADS]))


@contextlib.contextmanager
def floor_lab(members: int, wire: str, layout: str = "one") -> Iterator[Lab]:
    """A lab for probing without rcmd's prober: ``members`` NICs laid out as
    probe_floor.member says, their data addresses placed by rcmd (the
    routes replies come back by), a /32 test address each added beside it,
    and the client holding every target."""
    places = [member(i, layout) for i in range(members)]
    nics = [f"nic{i}" for i in range(members)]
    pairs = list(zip(nics, places, strict=True))
    interfaces = {n: {"group": m.group, "addresses": [m.data]} for n, m in pairs}
    groups: dict[str, dict[str, object]] = {m.group: {} for m in places}
    with Lab(nics=nics, interfaces=interfaces, groups=groups) as lab:
        targets = sorted({f"{m.target}/{m.prefix}" for m in places})
        lab_batch(lab, "client", [f"address add {t} dev eth0" for t in targets])
        if wire == "threads":
            model_the_wire(lab)
        lab.start_rcmd(timeout=120)
        if not lab.wait_for_addresses(nics[-1], [places[-1].data], timeout=60):
            raise LabError("rcmd did not place the addresses\n" + lab.snapshot())
        lab_batch(lab, "host", [f"address add {m.test}/32 dev {n}" for n, m in pairs])
        yield lab


def lab_batch(lab: Lab, role: str, commands: list[str]) -> None:
    """``ip -batch`` in one of the lab's namespaces."""
    batch = "".join(f"{c}\n" for c in commands)
    subprocess.run(["ip", "-n", lab.ns[role], "-batch", "-"], input=batch, text=True, check=True)


def bench_floor(members: int, seconds: float, wire: str) -> dict[str, object]:
    """The same probe rate from a bare loop over rcm_netkit.probeio
    (probe_floor.py) in the same lab: what the kernel and the batched calls
    cost with no state machine at all, the baseline rcmd's figure is read
    against."""
    with floor_lab(members, wire) as lab:
        floor = str(Path(__file__).resolve().parent / "probe_floor.py")
        argv = [sys.executable, floor, str(members), "100", str(seconds)]
        r = lab._run(lab.exec_argv("host", argv), timeout=seconds + 60)
        got = json.loads(r.stdout)
    used = got["user_s"] + got["system_s"]
    return {
        "members": members,
        "probing": "floor",
        "wire": wire,
        "seconds": round(got["seconds"], 1),
        "cpu_s": round(used, 2),
        "user_s": round(got["user_s"], 2),
        "system_s": round(got["system_s"], 2),
        "percent_of_one_core": round(100 * used / got["seconds"], 2),
        "sent": got["sent"],
        "answered": got["answered"],
        "failures_logged": 0,
    }


def bench_cpu(members: int, seconds: float, probing: bool, wire: str) -> dict[str, object]:
    nics = [f"nic{i}" for i in range(members)]
    interfaces = {
        nic: {
            "group": "g",
            "addresses": [f"10.1.1.{i + 1}/16"],
            "test_addresses": [f"10.1.0.{i + 1}/16"] if probing else [],
        }
        for i, nic in enumerate(nics)
    }
    groups = {"g": {"failure_detection_time_ms": 100, "targets": ["10.1.255.1"]}}
    with Lab(nics=nics, interfaces=interfaces, groups=groups) as lab:
        lab.client("addr", "add", "10.1.255.1/16", "dev", "eth0")
        if wire == "threads":
            model_the_wire(lab)
        proc = lab.start_rcmd(timeout=120)
        last = nics[-1]
        if not lab.wait_for_addresses(last, [f"10.1.1.{members}/16"], timeout=60):
            raise LabError("rcmd did not place the addresses\n" + lab.snapshot())
        if probing and not wait_until(lambda: f"{last}: probe targets" in lab.rcmd_log(), 60):
            raise LabError("not probing\n" + lab.snapshot())
        time.sleep(2)
        before = lab.rcmd_log().count("NIC failure detected")
        (u0, s0), t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        (u1, s1), wall = _cpu_seconds(proc.pid), time.monotonic() - t0
        user, system = u1 - u0, s1 - s0
        used = user + system
        # false failures: the lab's paths all work (counted in the window only)
        failures = lab.rcmd_log().count("NIC failure detected") - before
        at_start = before
    return {
        "members": members,
        "probing": probing,
        "wire": wire,
        "seconds": round(wall, 1),
        "cpu_s": round(used, 2),
        "user_s": round(user, 2),
        "system_s": round(system, 2),
        "percent_of_one_core": round(100 * used / wall, 2),
        "failures_logged": failures,
        "failures_before_the_window": at_start,
    }


def cpu_medians(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per (probing, wire): the median share of a core over the rounds, and
    for rcmd probing, the median of each round's ratio to that round's floor
    (rows come in the order run: a round's rcmd row before its floor row)."""
    by: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        key = (str(row["probing"]), str(row["wire"]))
        by.setdefault(key, []).append(float(row["percent_of_one_core"]))  # type: ignore[arg-type]
    out: list[dict[str, object]] = []
    for (probing, wire), values in by.items():
        floors = by.get(("floor", wire), [])
        ratio = None
        if probing == "True" and floors:
            pairs = zip(values, floors, strict=True)
            ratio = round(statistics.median(v / f for v, f in pairs), 2)
        out.append(
            {
                "probing": probing,
                "wire": wire,
                "n": len(values),
                "percent_of_one_core": round(statistics.median(values), 2),
                "ratio_to_floor": ratio,
            }
        )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fdt", default="100,1000,10000", help="detection times (ms), comma list")
    p.add_argument("--sizes", default="1,100", help="data addresses for the outage part")
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--cpu-seconds", type=float, default=60.0)
    p.add_argument("--cpu-rounds", type=int, default=1, help="CPU rows run this often, interleaved")
    p.add_argument("--skip", default="", help="parts to skip: detection,outage,cpu")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench_probe: needs root (network namespaces)", file=sys.stderr)
        return 2
    raise_on_signals()
    skip = set(args.skip.split(",")) - {""}
    out: dict[str, list[dict[str, object]]] = {"detection": [], "outage": [], "cpu": []}
    if "detection" not in skip:
        for fdt in (int(x) for x in args.fdt.split(",")):
            rounds = 15 if fdt <= 100 else 5 if fdt <= 1000 else 2
            row = bench_detection(fdt, rounds)
            out["detection"].append(row)
            print(
                f"detection  fdt {fdt:>6} ms: median {row['median_ms']} ms "
                f"({row['median_ratio']}x), max {row['max_ms']} ms, n={rounds}",
                flush=True,
            )
    if "outage" not in skip:
        for n in (int(x) for x in args.sizes.split(",")):
            row = bench_outage(n, 3, 100)
            out["outage"].append(row)
            print(
                f"outage     {n:>4} addresses, fdt 100 ms: v4 median {row['v4_median_ms']} ms,"
                f" v6 median {row['v6_median_ms']} ms (all v4 {row['v4_all_ms']})",
                flush=True,
            )
    if "cpu" not in skip:
        rows = ((False, "inline"), (True, "inline"), ("floor", "inline"))
        rows += ((True, "threads"), ("floor", "threads"))
        for probing, wire in rows * args.cpu_rounds:
            if probing == "floor":
                row = bench_floor(args.members, args.cpu_seconds, wire)
            else:
                row = bench_cpu(args.members, args.cpu_seconds, bool(probing), wire)
            out["cpu"].append(row)
            print(
                f"cpu        {args.members} members, probing={probing}, wire={wire}: "
                f"{row['percent_of_one_core']}% of one core over {row['seconds']} s "
                f"(user {row['user_s']} s, system {row['system_s']} s) "
                f"({row['failures_logged']} failures logged)",
                flush=True,
            )
        if args.cpu_rounds > 1:
            out["cpu_medians"] = cpu_medians(out["cpu"])
            for row in out["cpu_medians"]:
                ratio = row["ratio_to_floor"]
                print(
                    f"cpu median {row['probing']!s:>5}, wire={row['wire']}: "
                    f"{row['percent_of_one_core']}% of one core"
                    + (f", {ratio}x the floor" if ratio is not None else "")
                    + f" (n={row['n']})",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
