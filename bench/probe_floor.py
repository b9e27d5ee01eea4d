"""The floor under rcmd's probing cost: the same probes, sent and read by a
bare loop over :mod:`rcm_netkit.probeio` (no state machine, no targets, no
events), at the same rate.  Run inside the lab's host namespace by
bench_probe.py; prints its own CPU time as JSON.

    python probe_floor.py MEMBERS FDT_MS SECONDS TARGET SOURCE_PREFIX

Members are nic0..nic{MEMBERS-1}, nicN probing from SOURCE_PREFIX.{N+1}.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from rcm_netkit.probeio import ProbeIO


def main() -> int:
    members, fdt_ms, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    target, prefix = sys.argv[4], sys.argv[5]
    io = ProbeIO(False)
    ends = [io.endpoint(f"nic{i}", f"{prefix}.{i + 1}") for i in range(members)]
    headers = [end.header(target) for end in ends]
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
