"""Benchmark rcm_netkit.netlink against ``ip -batch`` (run as root).

    python bench/bench_netlink.py [--count 1000] [--runs 7] [--family 4|6]
    python bench/bench_netlink.py --pattern [--count 1000] [--runs 25]

In a throwaway namespace with a veth, each run times, for N addresses:
``ip -n NS -batch`` add / delete, and Netlink.add_addresses / del_addresses
(addrbatch, the hand-encoded path), plus a move (add on B, delete from A; also
as the IPMP handler makes it, with the index and the delete order from an
observation: the time includes reading the addresses), and the reads an
operation makes with N addresses present: ``addresses()`` (addrbatch's dump;
with and without the caller's links), ``links()`` and ``link()`` (pyroute2's
messages on the synchronous socket).  Also times opening
Netlink in a named namespace (a setns'd thread's socket handed to pyroute2),
move_link + pull_link round trips and announcements.  Prints medians.
bench/bench_pyroute2.py compares the address path with pyroute2's own.

``--pattern``: the IPMP handler's netlink calls for one move of N IPv4
addresses (observe links and addresses, add in growing batches, delete), the
way it makes them now (links read once and handed on, index and delete order
from the observation) against the way it made them before (pyroute2's asyncio
lookups, a second link dump to name the addresses, one per add/delete call,
and the delete-order dump), alternating in one process; wall and CPU medians
and the paired ratio.
The benchmark (not the product) uses ``ip`` to set up and as the reference.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

from rcm_netkit.announce import Announcer
from rcm_netkit.netlink import Link, Netlink
from rcm_netkit.netns import call_in_netns


def ip(*args: str, stdin: str | None = None) -> None:
    subprocess.run(["ip", *args], check=True, input=stdin, text=True, capture_output=True)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--family", type=int, choices=(4, 6), default=4)
    p.add_argument("--pattern", action="store_true", help="the IPMP handler's calls, before/now")
    args = p.parse_args()
    if args.pattern:
        return pattern(args.count, args.runs)

    n = args.count
    if args.family == 4:
        cidrs = [f"10.{i // 65000}.{(i // 250) % 260}.{i % 250 + 1}/8" for i in range(n)]
    else:
        cidrs = [f"2001:db8::{i // 65536:x}:{i % 65536:x}/64" for i in range(n)]
    nodad = " nodad" if args.family == 6 else ""
    add_cmds = "".join(f"addr add {c} dev va{nodad}\n" for c in cidrs)
    # ip gets its best case: deletes in reverse order of addition, secondaries
    # before their primary.  In addition order, with promote_secondaries=1, the
    # kernel promotes a secondary on every delete and 1000 deletes take ~4 s.
    del_cmds = "".join(f"addr del {c} dev va\n" for c in reversed(cidrs))
    move_cmds = "".join(f"addr add {c} dev vb{nodad}\n" for c in cidrs) + del_cmds

    ns = f"rcmbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    hold = ns + "-hold"
    results: dict[str, list[float]] = {}

    def rec(key: str, ms: float) -> None:
        results.setdefault(key, []).append(ms)

    ip("netns", "add", ns)
    ip("netns", "add", hold)
    try:
        ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        ip("-n", ns, "link", "add", "nic0", "type", "veth", "peer", "name", "nic0p")
        # As group members are configured (sysctl.prepare_member): deleting the
        # primary must not flush the secondaries.
        for dev in ("va", "vb"):
            conf = f"/proc/sys/net/ipv4/conf/{dev}/promote_secondaries"
            subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", f"echo 1 > {conf}"], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            files = {}
            for key, text in (("add", add_cmds), ("del", del_cmds), ("move", move_cmds)):
                files[key] = os.path.join(tmp, key)
                with open(files[key], "w") as f:
                    f.write(text)
            for _ in range(args.runs):
                rec("ip -batch add", timed(lambda: ip("-n", ns, "-batch", files["add"])))
                rec("ip -batch move", timed(lambda: ip("-n", ns, "-batch", files["move"])))
                ip("-n", ns, "addr", "flush", "dev", "vb")
                ip("-n", ns, "-batch", files["add"])
                rec("ip -batch del", timed(lambda: ip("-n", ns, "-batch", files["del"])))

                with Netlink(netns=ns) as nl:
                    t = timed(lambda nl=nl: check(nl.add_addresses("va", cidrs)))
                    rec("Netlink add", t)

                    def move(nl: Netlink = nl) -> None:
                        check(nl.add_addresses("vb", cidrs))
                        check(nl.del_addresses("va", cidrs))

                    rec("Netlink move", timed(move))
                    check(nl.del_addresses("vb", cidrs))
                    check(nl.add_addresses("va", cidrs))
                    links = nl.links()
                    va, vb = (next(k for k in links if k.name == n) for n in ("va", "vb"))

                    def move_known(
                        nl: Netlink = nl, links: list = links, va: Link = va, vb: Link = vb
                    ) -> None:
                        # As the IPMP handler does: index and order from its observation.
                        present = nl.addresses("va", links=links)
                        check(nl.add_addresses("vb", cidrs, index=vb.index))
                        check(nl.del_addresses("va", cidrs, index=va.index, present=present))

                    rec("Netlink move, caller's index+order", timed(move_known))
                    check(nl.del_addresses("vb", cidrs))
                    check(nl.add_addresses("va", cidrs))
                    rec(f"addresses('va'), {n} present", timed(lambda nl=nl: nl.addresses("va")))
                    rec(
                        "addresses(links=...)",
                        timed(lambda nl=nl, links=links: nl.addresses(links=links)),
                    )
                    rec("links()", timed(nl.links))
                    rec("link('va')", timed(lambda nl=nl: nl.link("va")))
                    t = timed(lambda nl=nl: check(nl.del_addresses("va", cidrs)))
                    rec("Netlink del", t)

            for _ in range(args.runs * 3):
                rec("Netlink(netns=NAME) open+close", timed(lambda: Netlink(netns=ns).close()))
                with Netlink(netns=ns) as nl:
                    rec("links() in named ns", timed(nl.links))
                    rec("move_link", timed(lambda nl=nl: nl.move_link("nic0", hold)))
                    rec(
                        "ip link set netns (back)",
                        timed(lambda: ip("-n", hold, "link", "set", "nic0", "netns", ns)),
                    )
                    nl.move_link("nic0", hold)
                    assert nl.link("nic0") is None
                    rec("pull_link", timed(lambda nl=nl: nl.pull_link("nic0", hold)))
                    assert nl.link("nic0") is not None
            ip("-n", ns, "link", "set", "va", "up")
            ip("-n", ns, "link", "set", "vb", "up")
            for _ in range(args.runs * 3):
                rec("call_in_netns (thread + setns)", timed(lambda: call_in_netns(ns, int)))
                t0 = time.perf_counter()
                ann = Announcer(netns=ns)
                rec("Announcer(netns=NAME) open", (time.perf_counter() - t0) * 1000)
                rec(
                    "announce 1 IPv4 + 1 IPv6",
                    timed(
                        lambda ann=ann: ann.announce(
                            "va", "02:00:00:00:00:01", ["192.0.2.1", "2001:db8::1"]
                        )
                    ),
                )
                ann.close()
    finally:
        ip("netns", "delete", hold)
        ip("netns", "delete", ns)

    print(f"{n} IPv{args.family} addresses, median of {args.runs} runs (ms):")
    for key, values in results.items():
        print(f"  {key:34s} {statistics.median(values):8.2f}   (min {min(values):.2f})")
    return 0


def pattern(n: int, runs: int) -> int:
    from rcm_netkit.netlink import _RTEXT_FILTER_SKIP_STATS, link_from_message
    from rcm_netkit.sysctl import prepare_member

    cidrs = [ipaddress.ip_interface(f"198.18.{i // 250}.{i % 250 + 1}/15") for i in range(n)]
    ns = f"rcmbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    ip("netns", "add", ns)
    try:
        ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        for dev in ("va", "vb"):
            call_in_netns(ns, prepare_member, dev)
        with Netlink(netns=ns) as nl:
            batch = nl._addrbatch()

            def pyroute2_links() -> list[Link]:
                msgs = nl._dump("link", "link dump", ext_mask=_RTEXT_FILTER_SKIP_STATS)
                return [link_from_message(m) for m in msgs if m["family"] == 0]

            def pyroute2_index(name: str) -> int:
                msgs = nl._run(
                    lambda ipr: ipr.link("get", ifname=name, ext_mask=_RTEXT_FILTER_SKIP_STATS),
                    name,
                )
                return link_from_message(msgs[0]).index

            def before(src: str, dst: str) -> None:
                pyroute2_links()  # the observation's links, then addresses() dumps them again
                batch.addresses({k.index: k.name for k in pyroute2_links()})
                for part in growing(cidrs):
                    check(batch.add(dst, pyroute2_index(dst), [(str(c), c) for c in part]))
                parsed = [(str(c), c, True) for c in cidrs]
                check(batch.delete(src, pyroute2_index(src), parsed))  # dumps for the order

            def now(src: str, dst: str) -> None:
                links = nl.links()
                by_name = {k.name: k for k in links}
                addrs = nl.addresses(links=links)
                for part in growing(cidrs):
                    check(nl.add_addresses(dst, part, index=by_name[dst].index))
                present = [a for a in addrs if a.ifname == src]
                check(nl.del_addresses(src, cidrs, index=by_name[src].index, present=present))

            check(nl.add_addresses("va", cidrs))
            wall: dict[str, list[float]] = {"before": [], "now": []}
            cpu: dict[str, list[float]] = {"before": [], "now": []}
            src, dst = "va", "vb"
            for r in range(runs):
                order = [("before", before), ("now", now)]
                for name, fn in order if r % 2 == 0 else order[::-1]:
                    t0, c0 = time.perf_counter(), time.process_time()
                    fn(src, dst)
                    wall[name].append((time.perf_counter() - t0) * 1000)
                    cpu[name].append((time.process_time() - c0) * 1000)
                    src, dst = dst, src
    finally:
        ip("netns", "delete", ns)
    print(f"the IPMP handler's netlink calls for one move of {n} addresses, {runs} runs:")
    for name in ("before", "now"):
        print(
            f"  {name:7s} wall median {statistics.median(wall[name]):6.1f} ms"
            f" (min {min(wall[name]):.1f}), CPU median {statistics.median(cpu[name]):6.1f} ms"
        )
    paired = statistics.median(a / b for a, b in zip(wall["now"], wall["before"], strict=True))
    print(f"  paired now / before (wall): {paired:.2f}")
    return 0


def growing(items: list, first: int = 64, factor: int = 16) -> list[list]:
    """The IPMP handler's batches: 64, 1024, 16384 ..."""
    out, start, size = [], 0, first
    while start < len(items):
        out.append(items[start : start + size])
        start += size
        size *= factor
    return out


def check(errors: dict[str, str]) -> None:
    if errors:
        raise SystemExit(f"{len(errors)} failures, e.g. {next(iter(errors.items()))}")


if __name__ == "__main__":
    sys.exit(main())
