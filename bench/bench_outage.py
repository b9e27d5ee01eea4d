"""Benchmark: the longest pause a client sees while rcm moves the address it talks to.

Not a test: it prints medians and maxima (and writes JSON with --json).  What a
user of IPMP cares about is not how long rcmd takes but whether the people
talking to a data address notice.  So a client in the lab's client namespace
keeps a TCP conversation with the host's 192.0.2.10 (and one with
2001:db8::10): one short line every 10 ms (``--interval``), echoed back, and it
writes the time of every answered round trip (CLOCK_MONOTONIC, which this
process shares).  For each scenario the bench takes the longest gap between two
answered round trips from just before the action until the addresses have
settled and the conversation has answered again.  With nothing happening that
gap is the interval plus scheduling noise: the "quiet" row measures it in the
same run.  A sniffer on the client's segment also notes when 192.0.2.10 is
first announced (gratuitous ARP) after each action: how long the peers had
to wait to learn the new MAC, counted from the start of the action (which
includes starting ``cfgadm`` or ``ip``).

Scenarios, each round, in this order (nic0 homes the data addresses, nic1 is
the other member of IPMP group g, failback on):

- detach:         ``cfgadm -c unconfigure net:nic0`` (add on nic1, announce,
                  delete from nic0, nic0 to the holding namespace).
- failback:       ``cfgadm -c configure net:nic0`` (nic0 back, addresses home).
- surprise:       nic0 moved to the holding namespace by hand (``ip link set
                  netns``, as the tests pull a NIC): rcmd learns it from its
                  netlink link monitor (and udev).
- surprise back:  nic0 moved back by hand: rcmd plumbs it and fails back.
- carrier loss:   nic0's switch port set down (no uevent, only a netlink link
                  change); carrier back: failback.

Sizes: N IPv4 data addresses on nic0 (192.0.2.10/24, then 198.18.0.0/15) plus
2001:db8::10/64; ``--sizes 1,100``.

Bounded and self-cleaning: every wait has a timeout, every namespace and
process is the lab's (unique names) and is removed on exit, failure, Ctrl-C or
SIGTERM.  Only addresses inside the lab's namespaces are touched.

Run as root:  python bench/bench_outage.py [--sizes 1,100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rcm_lab import DEFAULT_INTERFACES, Lab, LabError, raise_on_signals, wait_until
from rcm_lab.conversation import SERVER

V4, V6 = "192.0.2.10", "2001:db8::10"

CLIENT = r"""
import socket, sys, time
addr, port, path, interval = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
out = open(path, "a", buffering=1)
try:
    sock = socket.create_connection((addr, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    n, buf = 0, b""
    while True:
        n += 1
        line = b"%d\n" % n
        sent = time.monotonic()
        sock.sendall(line)
        while b"\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("closed by the server")
            buf += chunk
        got, buf = buf.split(b"\n", 1)
        if got + b"\n" != line:
            raise OSError(f"echo mismatch on line {n}")
        now = time.monotonic()
        out.write(f"{now:.6f}\n")
        time.sleep(max(0.0, interval - (now - sent)))
except OSError as e:
    out.write(f"error {e}\n")
"""


SNIFFER = r"""
import socket, sys, time
path, v4 = sys.argv[1], socket.inet_aton(sys.argv[2])
v6 = socket.inet_pton(socket.AF_INET6, sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind(("eth0", 0))
out = open(path, "a", buffering=1)
while True:
    f = s.recv(2048)
    now = time.monotonic()
    kind = f[12:14]
    # gratuitous ARP (sender IP = target IP = v4); unsolicited NA to all nodes for v6
    if kind == b"\x08\x06" and f[28:32] == v4 and f[38:42] == v4:
        out.write(f"{now:.6f} 4\n")
    elif (kind == b"\x86\xdd" and f[0:6] == b"\x33\x33\x00\x00\x00\x01" and f[20] == 58
          and f[54] == 136 and f[62:78] == v6):
        out.write(f"{now:.6f} 6\n")
"""


class Announcements:
    """When the client's segment hears an announcement of the data addresses
    (gratuitous ARP, unsolicited NA): how long rcm took to tell the peers."""

    def __init__(self, lab: Lab) -> None:
        assert lab.tmp is not None
        self.path = lab.tmp / "outage-announcements"
        self.path.touch()
        lab.spawn("client", [sys.executable, "-c", SNIFFER, str(self.path), V4, V6])
        time.sleep(0.2)  # the socket is open before anything is announced

    def first_after(self, start: float, family: str = "4") -> float | None:
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            t, fam = line.split()
            if fam == family and float(t) > start:
                return float(t)
        return None


class Client:
    """A TCP conversation from the lab's client namespace to ``address``."""

    def __init__(self, lab: Lab, address: str, port: int, interval: float) -> None:
        assert lab.tmp is not None
        self.address = address
        self.path = lab.tmp / f"outage-{port}.times"
        ready = lab.tmp / f"outage-{port}.ready"
        lab.spawn("host", [sys.executable, "-u", "-c", SERVER, str(port), str(ready)])
        if not wait_until(ready.exists, 10):
            raise LabError(f"echo server on port {port} did not start")
        self.proc = lab.spawn(
            "client",
            [sys.executable, "-c", CLIENT, address, str(port), str(self.path), str(interval)],
        )
        if not wait_until(lambda: len(self.times()) > 5 or self.error(), 10):
            raise LabError(f"no round trips to {address}")
        if self.error():
            raise LabError(f"conversation with {address}: {self.error()}")

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines()
        except OSError:
            return []

    def times(self) -> list[float]:
        out = []
        for line in self._lines():
            try:
                out.append(float(line))
            except ValueError:
                pass
        return out

    def error(self) -> str | None:
        errors = [line for line in self._lines() if line.startswith("error")]
        return errors[-1] if errors else None

    def longest_gap(self, start: float, end: float) -> float:
        """Longest gap (s) between answered round trips, from the last answer
        before ``start`` to the first answer after ``end``."""
        times = self.times()
        before = [t for t in times if t <= start]
        after = [t for t in times if t > end]
        window = ([before[-1]] if before else []) + [t for t in times if start < t <= end]
        window += after[:1]
        if len(window) < 2:
            return float("inf")
        return max(b - a for a, b in zip(window, window[1:], strict=False))


def data_addresses(n: int) -> list[str]:
    """``n`` IPv4 data addresses: 192.0.2.10/24 (the conversation's), then 198.18.0.0/15."""
    first = int(ipaddress.IPv4Address("198.18.0.10"))
    return [f"{V4}/24"] + [f"{ipaddress.IPv4Address(first + i)}/15" for i in range(n - 1)]


class Bench:
    def __init__(self, lab: Lab, addrs: list[str], interval: float) -> None:
        self.lab = lab
        self.ends = [addrs[0], addrs[-1], f"{V6}/64"]
        self.heard = Announcements(lab)
        self.clients = [
            Client(lab, V4, 7100, interval),
            Client(lab, V6, 7101, interval),
        ]

    def cfgadm(self, *args: str) -> None:
        r = self.lab.cfgadm(*args)
        if r.returncode != 0:
            raise LabError(f"cfgadm {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")

    def home(self) -> bool:
        """All data addresses on nic0 and none left on nic1."""
        return self.lab.wait_for_addresses("nic0", self.ends, timeout=30) and (
            self.lab.wait_for_addresses("nic1", self.ends, timeout=30, present=False)
        )

    def away(self) -> bool:
        return self.lab.wait_for_addresses("nic1", self.ends, timeout=30)

    def measure(
        self, action: Callable[[], None], settled: Callable[[], bool]
    ) -> tuple[list[float], float, float | None]:
        """Run ``action``, wait until ``settled``; return each client's longest
        gap (ms), the time to settle (ms, polled) and when the client's
        segment first heard the IPv4 data address announced (ms after the
        action started; None: not announced)."""
        time.sleep(0.3)  # a quiet stretch before: the previous scenario's tail is over
        start = time.monotonic()
        action()
        if not settled():
            raise LabError("addresses did not settle\n" + self.lab.snapshot())
        end = time.monotonic()
        for c in self.clients:
            if not wait_until(lambda c=c: any(t > end + 0.05 for t in c.times()), 10, 0.02):
                raise LabError(
                    f"conversation with {c.address} did not resume: {c.error()}\n"
                    + self.lab.snapshot()
                )
        for c in self.clients:
            if c.error():
                raise LabError(f"conversation with {c.address} broke: {c.error()}")
        gaps = [round(c.longest_gap(start, end) * 1000, 1) for c in self.clients]
        heard = self.heard.first_after(start)
        announced = round((heard - start) * 1000, 1) if heard is not None and heard < end else None
        return gaps, round((end - start) * 1000, 1), announced

    def round(self, carrier: bool) -> dict[str, tuple[list[float], float, float | None]]:
        lab = self.lab
        out = {
            "quiet": self.measure(lambda: time.sleep(0.5), lambda: True),
            "detach": self.measure(lambda: self.cfgadm("-c", "unconfigure", "net:nic0"), self.away),
            "failback": self.measure(lambda: self.cfgadm("-c", "configure", "net:nic0"), self.home),
            "surprise": self.measure(lambda: lab.move("nic0", "host", "holding"), self.away),
            "surprise back": self.measure(lambda: lab.move("nic0", "holding", "host"), self.home),
        }
        if carrier:
            out["carrier loss"] = self.measure(
                lambda: lab.switch("link", "set", "p-nic0", "down"), self.away
            )
            out["carrier back"] = self.measure(
                lambda: lab.switch("link", "set", "p-nic0", "up"), self.home
            )
        return out


def bench_size(n: int, rounds: int, interval: float, carrier: bool) -> list[dict[str, object]]:
    addrs = data_addresses(n)
    # The lab's own configuration, with nic0 homing the N addresses under test.
    interfaces = {
        "nic0": {**DEFAULT_INTERFACES["nic0"], "addresses": [*addrs, f"{V6}/64"]},
        "nic1": dict(DEFAULT_INTERFACES["nic1"]),
    }
    samples: dict[str, list[tuple[list[float], float, float | None]]] = {}
    with Lab(interfaces=interfaces) as lab:
        lab.start_rcmd(timeout=60)
        bench = Bench(lab, addrs, interval)
        if not bench.home():
            raise LabError("rcmd did not place the addresses\n" + lab.snapshot())
        for _ in range(rounds):
            for name, sample in bench.round(carrier).items():
                samples.setdefault(name, []).append(sample)
    results = []
    for name, got in samples.items():
        v4 = [g[0][0] for g in got]
        v6 = [g[0][1] for g in got]
        settle = [g[1] for g in got]
        heard = [g[2] for g in got if g[2] is not None]
        results.append(
            {
                "scenario": name,
                "addresses": n,
                "rounds": rounds,
                "v4_median_ms": statistics.median(v4),
                "v4_max_ms": max(v4),
                "v6_median_ms": statistics.median(v6),
                "v6_max_ms": max(v6),
                "settle_median_ms": statistics.median(settle),
                "announced_median_ms": statistics.median(heard) if heard else None,
                "v4_all_ms": v4,
                "v6_all_ms": v6,
            }
        )
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,100", help="IPv4 data addresses on nic0 (comma list)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--interval", type=float, default=0.01, help="seconds between round trips")
    p.add_argument("--no-carrier", action="store_true", help="skip the carrier loss scenario")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    raise_on_signals()  # SIGTERM/SIGHUP unwind through Lab.close() like Ctrl-C
    results: list[dict[str, object]] = []
    for n in args.sizes.split(","):
        results += bench_size(int(n), args.rounds, args.interval, not args.no_carrier)
    head = (
        "scenario",
        "addresses",
        "v4 median",
        "v4 max",
        "v6 median",
        "v6 max",
        "announced",
        "settled in",
    )
    widths = (14, 9, 10, 10, 10, 10, 10, 10)
    print("  ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    for r in results:
        row = (
            r["scenario"],
            r["addresses"],
            f"{r['v4_median_ms']:.1f} ms",
            f"{r['v4_max_ms']:.1f} ms",
            f"{r['v6_median_ms']:.1f} ms",
            f"{r['v6_max_ms']:.1f} ms",
            "-" if r["announced_median_ms"] is None else f"{r['announced_median_ms']:.1f} ms",
            f"{r['settle_median_ms']:.0f} ms",
        )
        print("  ".join(f"{v!s:>{w}}" for v, w in zip(row, widths, strict=True)))
    print(
        f"(longest gap between answered round trips, one every {args.interval * 1000:g} ms;"
        f" medians and maxima of {args.rounds} rounds; announced: when the client's segment"
        " first heard 192.0.2.10 announced, after the action began; settled: polled with ip)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
