"""Benchmark: how long ``cfgadm -l`` takes to start and answer, against the
floor of any click program in the same virtualenv (``python -c "import click"``).

Not a test: it prints medians and ratios.  The machine is noisy, so every
round runs each command once, in turn, and the figures are medians over the
rounds; a ratio compares figures of the same phase of the same run only.

What is timed (each a new process, run directly, not under ``ip netns exec``,
so that no extra process start sits in any of them):

- floor:        ``python -c "import click"``, the least a click CLI costs here.
- bare:         ``python -c pass``, the interpreter alone (for reading the others).
- with rcmd:    ``cfgadm -l`` while rcmd runs in a lab: cfgadm asks rcmd over
                its socket (the client path: no engine, no plugins).
- rcmd answers: the same listing asked over the socket from a warm process
                (no process start): rcmd's share of the line above.
- no rcmd:      ``cfgadm -l`` with the same configuration and rcmd stopped: the
                engine runs in cfgadm's own process (plugins, their
                configuration, a read of the kernel's links).  It runs in the
                root namespace, so it lists this machine's interfaces beside the
                lab's configured (absent) ones.
- pyroute2:     ``python -c "import click, pyroute2"``, when pyroute2 is
                installed: what importing it adds, for the engine that will.

Bytecode: ``pip install`` writes .pyc files for the package; an editable
install under ``PYTHONDONTWRITEBYTECODE=1`` (this project's sessions set it)
has none, and then every run compiles each of rcm's modules it imports.  So
by default the product's packages are compiled first (``compileall``), as an
installed cfgadm is; ``--no-compile`` measures the tree as it is.

Run as root:  python bench/bench_cfgadm_start.py [--rounds 31] [--no-compile] [--json FILE]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rcm_lab import Lab

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rcm", "cfgadm", "netkit", "plugins")
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
    for argv in commands.values():  # warm the page cache
        run_once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(run_once(argv, env))
    return {name: statistics.median(t) for name, t in times.items()}


def rcmd_answer(path: Path, rounds: int) -> float:
    """Median seconds for rcmd to answer a listing, from connect to the last byte."""
    request = b'{"op": "list", "ap_ids": [], "verbose": false}\n'
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(path))
            s.sendall(request)
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise SystemExit("bench: rcmd closed the connection without answering")
                buf += chunk
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=31)
    p.add_argument("--no-compile", action="store_true", help="do not write bytecode first")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    if not args.no_compile:
        for package in PACKAGES:
            compileall.compile_dir(REPO / package, quiet=1)
    floor = {"bare": [PYTHON, "-c", "pass"], "floor": [PYTHON, "-c", "import click"]}
    if importlib.util.find_spec("pyroute2") is not None:
        floor["pyroute2"] = [PYTHON, "-c", "import click, pyroute2"]
    with Lab() as lab:
        env = lab.env()
        lab.start_rcmd(timeout=60)
        answer = rcmd_answer(lab.socket_path, args.rounds)
        with_rcmd = measure({**floor, "cfgadm": [CFGADM, "-l"]}, env, args.rounds)
        lab.stop_rcmd()
        no_rcmd = measure({**floor, "cfgadm": [CFGADM, "-l"]}, env, args.rounds)

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    result = {
        "rounds": args.rounds,
        "bytecode": "compiled first" if not args.no_compile else "as found",
        "with_rcmd": {k: ms(v) for k, v in with_rcmd.items()},
        "rcmd_answer_ms": ms(answer),
        "no_rcmd": {k: ms(v) for k, v in no_rcmd.items()},
        "ratio_with_rcmd": round(with_rcmd["cfgadm"] / with_rcmd["floor"], 2),
        "ratio_no_rcmd": round(no_rcmd["cfgadm"] / no_rcmd["floor"], 2),
    }
    rows = [
        ("python -c pass", with_rcmd["bare"], no_rcmd["bare"]),
        ('python -c "import click" (floor)', with_rcmd["floor"], no_rcmd["floor"]),
    ]
    if "pyroute2" in with_rcmd:
        name = 'python -c "import click, pyroute2"'
        rows.append((name, with_rcmd["pyroute2"], no_rcmd["pyroute2"]))
    rows.append(("cfgadm -l", with_rcmd["cfgadm"], no_rcmd["cfgadm"]))
    print(f"{'':36}{'rcmd running':>14}{'no rcmd':>12}")
    for name, a, b in rows:
        print(f"{name:36}{ms(a):>11.1f} ms{ms(b):>9.1f} ms")
    ratios = f"{result['ratio_with_rcmd']:>13.2f}x{result['ratio_no_rcmd']:>11.2f}x"
    print(f"{'cfgadm -l / floor':36}{ratios}")
    print(f"rcmd's own answer to the listing (socket round trip, warm client): {ms(answer):.1f} ms")
    if "pyroute2" in no_rcmd:
        projected = no_rcmd["cfgadm"] + no_rcmd["pyroute2"] - no_rcmd["floor"]
        result["ratio_no_rcmd_with_pyroute2_projected"] = round(projected / no_rcmd["floor"], 2)
        print(
            "no rcmd, if the in-process engine imports pyroute2 (cfgadm -l + what importing"
            f" pyroute2 adds): {ms(projected):.1f} ms,"
            f" {result['ratio_no_rcmd_with_pyroute2_projected']:.2f}x"
        )
    print(
        f"(medians of {args.rounds} rounds, each command once per round; bytecode"
        f" {result['bytecode']})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
