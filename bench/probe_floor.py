"""The floor under rcmd's probing cost: the same probes, sent and read by a
bare loop over :mod:`rcm_netkit.probeio` (no state machine, no targets, no
events), at the same rate.  Run inside the lab's host namespace by
bench_probe.py and probe_ab.py; prints its own CPU time as JSON.

    python probe_floor.py MEMBERS FDT_MS SECONDS [one|pairs]

Members are nic0..nic{MEMBERS-1}, each probing from its test address to its
target as :func:`member` lays them out (default ``one``).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from rcm_netkit.probeio import ProbeIO

LAYOUTS = ("one", "pairs")


class Member:
    """nic{i}'s place in a bench layout."""

    def __init__(self, group: str, data: str, test: str, target: str, prefix: int) -> None:
        self.group, self.data, self.test, self.target = group, data, test, target
        self.prefix = prefix  # of the target on the client


def member(i: int, layout: str) -> Member:
    """``one``: every NIC in group g on 10.1.0.0/16 (data 10.1.1.N, test
    10.1.0.N), one target 10.1.255.1: the route lookup walks one prefix's
    route per member.  ``pairs``: groups of two NICs, group k on 10.k.1.0/24
    (k from 1; data .1/.2, test .101/.102), its target 10.k.1.254."""
    if layout == "pairs":
        k = i // 2 + 1
        return Member(
            f"g{k - 1}", f"10.{k}.1.{i % 2 + 1}/24", f"10.{k}.1.{i % 2 + 101}", f"10.{k}.1.254", 24
        )
    return Member("g", f"10.1.1.{i + 1}/16", f"10.1.0.{i + 1}", "10.1.255.1", 16)


def main() -> int:
    members, fdt_ms, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    layout = sys.argv[4] if len(sys.argv) > 4 else "one"
    places = [member(i, layout) for i in range(members)]
    io = ProbeIO(False)
    # the endpoints are kept: a header points into its endpoint's buffers
    ends = [io.endpoint(f"nic{i}", m.test) for i, m in enumerate(places)]
    headers = [end.header(m.target) for end, m in zip(ends, places, strict=True)]
    interval = fdt_ms / 1000 / 7
    sent = answered = 0
    start = time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    seq, next_at = 0, start
    while next_at < start + seconds:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        answers: dict = {}
        io.collect(answers, -1)
        answered += len(answers)
        seq = (seq + 1) & 0xFFFF
        io.prepare(seq)
        _ns, errors = io.send(headers)
        sent += len(ends) - len(errors)
        next_at += interval * 0.925  # the prober's mean jitter
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - start
    user, system = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    print(
        json.dumps(
            {
                "sent": sent,
                "answered": answered,
                "seconds": wall,
                "user_s": user,
                "system_s": system,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
