"""Benchmark: how long ``cfgadm -l`` takes to start and answer, against the
floor of any click program in the same virtualenv (``python -c "import click"``).

Not a test: it prints medians and ratios.  The machine is noisy, so every
round runs each command once, in turn, and the figures are medians over the
rounds; the ratios compare figures of the same run only.

What is timed (each a new process, run directly, not under ``ip netns exec``,
so that no extra process start sits in any of them):

- floor:       ``python -c "import click"``, the least a click CLI costs here.
- bare:        ``python -c pass``, the interpreter alone (for reading the others).
- with rcmd:   ``cfgadm -l`` while rcmd runs in a lab: cfgadm asks rcmd over
               its socket (the client path: no engine, no plugins).
- no rcmd:     ``cfgadm -l`` with the same configuration and rcmd stopped: the
               engine runs in cfgadm's own process (plugins, their
               configuration, a read of the kernel's links).  It runs in the
               root namespace, so it lists this machine's interfaces beside the
               lab's configured (absent) ones.

Run as root:  python bench/bench_cfgadm_start.py [--rounds 31] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rcm_lab import Lab

PYTHON = sys.executable
CFGADM = str(Path(sys.executable).with_name("cfgadm"))


def run_once(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    return elapsed


def measure(commands: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict[str, float]:
    """Median seconds of each command, the commands interleaved round by round."""
    for argv in commands.values():  # warm the page cache and the bytecode caches
        run_once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(run_once(argv, env))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=31)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    floor = {"floor": [PYTHON, "-c", "import click"], "bare": [PYTHON, "-c", "pass"]}
    with Lab() as lab:
        env = lab.env()
        lab.start_rcmd(timeout=60)
        with_rcmd = measure({**floor, "cfgadm": [CFGADM, "-l"]}, env, args.rounds)
        lab.stop_rcmd()
        no_rcmd = measure({**floor, "cfgadm": [CFGADM, "-l"]}, env, args.rounds)
    rows = []
    for name, m in (("cfgadm -l, rcmd running", with_rcmd), ("cfgadm -l, no rcmd", no_rcmd)):
        rows.append(
            {
                "measure": name,
                "cfgadm_ms": round(m["cfgadm"] * 1000, 1),
                "import_click_ms": round(m["floor"] * 1000, 1),
                "python_bare_ms": round(m["bare"] * 1000, 1),
                "ratio": round(m["cfgadm"] / m["floor"], 2),
            }
        )
    print(f"{'measure':<26}{'cfgadm':>10}{'import click':>14}{'python -c pass':>16}{'ratio':>8}")
    for r in rows:
        print(
            f"{r['measure']:<26}{r['cfgadm_ms']:>7.1f} ms{r['import_click_ms']:>11.1f} ms"
            f"{r['python_bare_ms']:>13.1f} ms{r['ratio']:>7.2f}x"
        )
    print(f"(medians of {args.rounds} rounds, each command once per round, same run)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
