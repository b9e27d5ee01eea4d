"""Benchmark: how long ``ipmpstat -g`` and ``ipmpstat -i`` take to start and
answer, against ``cfgadm -l`` in the same run (bench_cfgadm_start.py's method).

Not a test: it prints medians and ratios.  Every round runs each command
once, in turn (the machine is noisy: interleaving keeps the comparison
fair), against one rcmd in a lab, and the figures are medians over the
rounds.  Bytecode is compiled first, as an installed package has it.

What is timed (each a new process, run directly in the root namespace
against the lab's rcmd socket):

- floor:      ``python -c "import click"`` (cfgadm's floor)
- bare:       ``python -c pass``
- cfgadm -l:  the listing over rcmd's socket
- ipmpstat:   ``ipmpstat -g`` and ``ipmpstat -i`` (the IPMP report over the socket)

Run as root:  python bench/bench_ipmpstat_start.py [--rounds 31] [--json FILE]
"""

from __future__ import annotations

import argparse
import compileall
import json
import sys
from pathlib import Path

from bench_cfgadm_start import CFGADM, PACKAGES, PYTHON, REPO, measure, ms
from rcm_lab import Lab

IPMPSTAT = str(Path(sys.executable).with_name("ipmpstat"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=31)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    for package in (*PACKAGES, "ipmpadm"):
        compileall.compile_dir(REPO / package, quiet=1)
    commands = {
        "bare": [PYTHON, "-c", "pass"],
        "floor": [PYTHON, "-c", "import click"],
        "cfgadm -l": [CFGADM, "-l"],
        "ipmpstat -g": [IPMPSTAT, "-g"],
        "ipmpstat -i": [IPMPSTAT, "-i"],
    }
    with Lab() as lab:
        lab.start_rcmd(timeout=60)
        wall, cpu = measure(commands, lab.env(), args.rounds)
    base = wall["cfgadm -l"]
    print(f"{'command':16}{'wall':>10}{'CPU':>10}{'/ cfgadm -l':>14}")
    for name in commands:
        print(
            f"{name:16}{ms(wall[name]):>7.1f} ms{ms(cpu[name]):>7.1f} ms{wall[name] / base:>13.2f}x"
        )
    print(f"(medians of {args.rounds} rounds, each command once per round)")
    if args.json:
        result = {
            "rounds": args.rounds,
            "wall_ms": {k: ms(v) for k, v in wall.items()},
            "cpu_ms": {k: ms(v) for k, v in cpu.items()},
        }
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
