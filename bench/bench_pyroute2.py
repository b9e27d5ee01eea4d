"""Why bulk addresses are hand-encoded: rcm_netkit vs pyroute2 vs ``ip -batch`` (run as root).

    python bench/bench_pyroute2.py [--count 1000] [--runs 7]

One run, same namespace, N IPv4 addresses; each approach moves them (add on
vb, delete from va, promote_secondaries=1 as group members have) and the
medians of wall and CPU time are printed with the ratio to ``ip -batch``
(CPU time: this process's and its children's, kernel included; it is the
steadier figure on a shared machine):

- ``ip -batch``: one ``ip -n NS -batch FILE`` process (the reference);
- rcm_netkit ``Netlink``: the product path (index lookup, the ordering dump,
  per-address results) on addrbatch;
- addrbatch alone: the same pyroute2-encoded templates, patched and sent,
  without lookups or the ordering dump;
- pyroute2 ``IPRoute.addr()``: one request per address;
- pyroute2 ``nlm_request_batch``: ``ifaddrmsg`` encoded by pyroute2, 100 per
  call (more overflows the receive buffer and pyroute2 then waits for good).

Also: dumping the N addresses (addrbatch vs pyroute2 ``addr('dump')``), and
opening a request socket in a named namespace (a setns'd thread + pyroute2 on
that socket, as rcm_netkit does, vs ``IPRoute(netns=NAME, flags=0, libc=...)``,
pyroute2's fork).  The benchmark (not the product) uses ``ip`` to set up.
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from rcm_netkit.addrbatch import AddressBatch
from rcm_netkit.netlink import Netlink, open_route_socket
from rcm_netkit.netns import call_in_netns

CHUNK = 100  # nlm_request_batch messages per call


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its waited-for children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``fn()``.  The kernel's netlink work runs in the
    sender's system call, so CPU time counts it; unlike wall time it does not
    count waiting for a CPU that other processes hold (a shared machine)."""
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000, (cpu_seconds() - c0) * 1000


def check(errors: dict[str, str]) -> None:
    if errors:
        raise SystemExit(f"{len(errors)} failures, e.g. {next(iter(errors.items()))}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    n = args.count
    cidrs = [f"10.{i // 65000}.{(i // 250) % 260}.{i % 250 + 1}/8" for i in range(n)]
    parsed = [ipaddress.ip_interface(c) for c in cidrs]
    ns = f"rcmbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    results: dict[str, list[tuple[float, float]]] = {}

    def rec(key: str, ms: tuple[float, float]) -> None:
        results.setdefault(key, []).append(ms)

    ip("netns", "add", ns)
    try:
        ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        for dev in ("va", "vb"):
            conf = f"/proc/sys/net/ipv4/conf/{dev}/promote_secondaries"
            subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", f"echo 1 > {conf}"], check=True)
        with Netlink(netns=ns) as nl:
            va = nl.link("va").index  # type: ignore[union-attr]
            vb = nl.link("vb").index  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            move_file = os.path.join(tmp, "move")
            with open(move_file, "w") as f:
                f.writelines(f"addr add {c} dev vb\n" for c in cidrs)
                # ip's best case: secondaries before their primary.
                f.writelines(f"addr del {c} dev va\n" for c in reversed(cidrs))
            for _ in range(args.runs):
                one_run(ns, va, vb, cidrs, parsed, move_file, rec)
        for _ in range(args.runs * 3):
            rec("open: setns'd thread socket + AsyncIPRoute", timed(lambda: open_ours(ns)))
            rec("open: IPRoute(netns=, flags=0, libc=) (fork)", timed(lambda: open_fork(ns)))
    finally:
        ip("netns", "delete", ns)

    def medians(key: str) -> tuple[float, float]:
        values = results[key]
        return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)

    wall0, cpu0 = medians("move: ip -batch")
    print(f"{n} IPv4 addresses, medians of {args.runs} runs, same run (ms; ratio to ip -batch):")
    print(f"  {'':52s} {'wall':>8s} {'ratio':>6s} {'CPU':>8s} {'ratio':>6s}")
    for key in results:
        wall, cpu = medians(key)
        if key.startswith("move:"):
            print(f"  {key:52s} {wall:8.1f} {wall / wall0:5.1f}x {cpu:8.1f} {cpu / cpu0:5.1f}x")
        else:
            print(f"  {key:52s} {wall:8.1f} {'':6s} {cpu:8.1f}")
    return 0


def one_run(ns, va, vb, cidrs, parsed, move_file, rec) -> None:  # type: ignore[no-untyped-def]
    def reset() -> None:
        ip("-n", ns, "addr", "flush", "dev", "va")
        ip("-n", ns, "addr", "flush", "dev", "vb")
        with Netlink(netns=ns) as nl:
            check(nl.add_addresses("va", cidrs))

    reset()
    rec("move: ip -batch", timed(lambda: ip("-n", ns, "-batch", move_file)))

    reset()
    with Netlink(netns=ns) as nl:
        nl.links()  # a handler's Netlink is long-lived: time it warm

        def product() -> None:
            check(nl.add_addresses("vb", parsed))
            check(nl.del_addresses("va", parsed))

        rec("move: rcm_netkit Netlink (addrbatch)", timed(product))

    reset()
    batch = AddressBatch(call_in_netns(ns, open_route_socket), ns)
    try:
        rec("dump: addrbatch", timed(lambda: batch.addresses({va: "va"}, va)))

        def bare() -> None:
            pairs = [(str(i), i) for i in parsed]
            check(batch.add("vb", vb, pairs))
            replies = batch.exchange(AddressBatch._messages(RTM_DELADDR, va, parsed[::-1]))
            assert not any(r.error for r in replies)

        rec("move: addrbatch alone (no lookups/ordering dump)", timed(bare))
    finally:
        batch.close()

    # pyroute2's objects belong to the thread that made them: all of this runs
    # in one thread inside the namespace.
    call_in_netns(ns, pyroute2_part, va, vb, parsed, reset, rec)


def pyroute2_part(va, vb, parsed, reset, rec) -> None:  # type: ignore[no-untyped-def]
    reset()
    with IPRoute(groups=0) as ipr:
        rec("dump: pyroute2 addr('dump')", timed(lambda: ipr.addr("dump", index=va)))

        def addr_loop() -> None:
            for c in parsed:
                ipr.addr("add", index=vb, address=str(c.ip), prefixlen=c.network.prefixlen)
            for c in reversed(parsed):
                ipr.addr("del", index=va, address=str(c.ip), prefixlen=c.network.prefixlen)

        rec("move: pyroute2 IPRoute.addr() loop", timed(addr_loop))
        reset()

        def request_batch() -> None:
            for kind, index, items in ((RTM_NEWADDR, vb, parsed), (RTM_DELADDR, va, parsed[::-1])):
                for start in range(0, len(items), CHUNK):
                    msgs = [message(kind, index, c) for c in items[start : start + CHUNK]]
                    for reply in ipr.nlm_request_batch(msgs, noraise=True):
                        assert reply.get("error") in (None, 0), reply

        rec(f"move: pyroute2 nlm_request_batch ({CHUNK} per call)", timed(request_batch))


def message(kind: int, index: int, c: ipaddress.IPv4Interface) -> ifaddrmsg:
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET
    msg["prefixlen"] = c.network.prefixlen
    msg["index"] = index
    msg["attrs"] = [("IFA_LOCAL", str(c.ip)), ("IFA_ADDRESS", str(c.ip))]
    msg["header"]["type"] = kind
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
    msg["header"]["flags"] = flags
    return msg


def open_ours(ns: str) -> None:
    with Netlink(netns=ns) as nl:
        nl.link("lo")


_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)


def open_fork(ns: str) -> None:
    with IPRoute(netns=ns, flags=0, libc=_LIBC, groups=0) as ipr:
        ipr.link("get", ifname="lo")


if __name__ == "__main__":
    sys.exit(main())
