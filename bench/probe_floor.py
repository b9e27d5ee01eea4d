"""The floor under rcmd's probing cost: the same probes, sent and read by a
bare loop over :mod:`rcm_netkit.probeio` (no state machine, no targets, no
events), at the same rate.  Run inside the lab's host namespace by
bench_probe.py; prints its own CPU time as JSON.

    python probe_floor.py MEMBERS FDT_MS SECONDS TARGET SOURCE_PREFIX
    python probe_floor.py MEMBERS FDT_MS SECONDS --pairs

Members are nic0..nic{MEMBERS-1}, nicN probing from SOURCE_PREFIX.{N+1} to
TARGET; with ``--pairs``, as :func:`pair` lays them out (groups of two, each
on a subnet of its own with a target of its own).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from rcm_netkit.probeio import ProbeIO


def pair(i: int) -> tuple[str, str, str]:
    """nic{i} in the pairs layout: (its data address, its test address, its
    target): groups of two NICs, group k on 10.k.1.0/24 (k from 1), the
    target 10.k.1.254 on the client."""
    k = i // 2 + 1
    return f"10.{k}.1.{i % 2 + 1}/24", f"10.{k}.1.{i % 2 + 101}", f"10.{k}.1.254"


def main() -> int:
    members, fdt_ms, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    if sys.argv[4] == "--pairs":
        routes = [pair(i)[1:] for i in range(members)]
    else:
        routes = [(f"{sys.argv[5]}.{i + 1}", sys.argv[4]) for i in range(members)]
    io = ProbeIO(False)
    # the endpoints are kept: a header points into its endpoint's buffers
    ends = [io.endpoint(f"nic{i}", source) for i, (source, _target) in enumerate(routes)]
    headers = [end.header(target) for end, (_source, target) in zip(ends, routes, strict=True)]
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
