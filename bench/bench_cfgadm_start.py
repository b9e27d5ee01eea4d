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
- stand-in:     ``cfgadm -l`` against a stand-in for rcmd (a thread of this
                script answering rcmd's recorded answer at once): cfgadm's own
                share, whatever rcmd's answer costs on a busy machine.
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
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rcm_lab import Lab

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rcm", "cfgadm", "netkit", "plugins")
PYTHON = sys.executable
CFGADM = str(Path(sys.executable).with_name("cfgadm"))


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``argv``."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(
                f"bench: {' '.join(argv)} failed ({proc.returncode}):\n{err.read().decode()}"
            )
    return elapsed, usage.ru_utime + usage.ru_stime


def measure(
    commands: dict[str, list[str]], env: dict[str, str], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall-clock and median CPU seconds of each command, the commands
    interleaved round by round."""
    for argv in commands.values():  # warm the page cache
        run_once(argv, env)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            w, c = run_once(argv, env)
            wall[name].append(w)
            cpu[name].append(c)
    return (
        {name: statistics.median(t) for name, t in wall.items()},
        {name: statistics.median(t) for name, t in cpu.items()},
    )


LIST_REQUEST = b'{"op": "list", "ap_ids": [], "verbose": false}\n'


def ask(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(path))
        s.sendall(LIST_REQUEST)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                raise SystemExit("bench: rcmd closed the connection without answering")
            buf += chunk
    return buf


def rcmd_answer(path: Path, rounds: int) -> float:
    """Median seconds for rcmd to answer a listing, from connect to the last byte."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ask(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class StandIn:
    """Answers every connection on ``path`` with ``answer`` at once (a thread)."""

    def __init__(self, path: Path, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break  # a client that only probes (older cfgadm) closes at once
                    buf += chunk
                if buf:
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)


PHASES = (("rcmd running", "with_rcmd"), ("stand-in", "stand_in"), ("no rcmd", "no_rcmd"))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def report(kind: str, phases: dict[str, dict[str, float]]) -> dict[str, object]:
    """Print one table (wall or CPU medians) and return its figures."""
    keys = [("python -c pass", "bare"), ('python -c "import click" (floor)', "floor")]
    if "pyroute2" in phases["no_rcmd"]:
        keys.append(('python -c "import click, pyroute2"', "pyroute2"))
    keys.append(("cfgadm -l", "cfgadm"))
    print(f"{kind:36}" + "".join(f"{title:>14}" for title, _ in PHASES))
    for label, key in keys:
        print(f"{label:36}" + "".join(f"{ms(phases[p][key]):>11.1f} ms" for _, p in PHASES))
    ratios = {p: round(phases[p]["cfgadm"] / phases[p]["floor"], 2) for _, p in PHASES}
    print(f"{'cfgadm -l / floor':36}" + "".join(f"{ratios[p]:>13.2f}x" for _, p in PHASES))
    out: dict[str, object] = {p: {k: ms(v) for k, v in phases[p].items()} for _, p in PHASES}
    out["ratios"] = ratios
    if "pyroute2" in phases["no_rcmd"]:
        m = phases["no_rcmd"]
        projected = (m["cfgadm"] + m["pyroute2"] - m["floor"]) / m["floor"]
        out["ratio_no_rcmd_with_pyroute2_projected"] = round(projected, 2)
        print(f"{'no rcmd + importing pyroute2 / floor':36}{'':28}{projected:>13.2f}x")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=31)
    p.add_argument("--no-compile", action="store_true", help="do not write bytecode first")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    if not args.no_compile:
        for package in PACKAGES:
            compileall.compile_dir(REPO / package, quiet=1)
    commands = {"bare": [PYTHON, "-c", "pass"], "floor": [PYTHON, "-c", "import click"]}
    if importlib.util.find_spec("pyroute2") is not None:
        commands["pyroute2"] = [PYTHON, "-c", "import click, pyroute2"]
    commands["cfgadm"] = [CFGADM, "-l"]
    wall: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    with Lab() as lab:
        env = lab.env()
        lab.start_rcmd(timeout=60)
        answer = rcmd_answer(lab.socket_path, args.rounds)
        recorded = ask(lab.socket_path)
        wall["with_rcmd"], cpu["with_rcmd"] = measure(commands, env, args.rounds)
        lab.stop_rcmd()
        stand_in = StandIn(lab.socket_path, recorded)
        try:
            wall["stand_in"], cpu["stand_in"] = measure(commands, env, args.rounds)
        finally:
            stand_in.close()
            lab.socket_path.unlink()
        wall["no_rcmd"], cpu["no_rcmd"] = measure(commands, env, args.rounds)
    result = {
        "rounds": args.rounds,
        "bytecode": "compiled first" if not args.no_compile else "as found",
        "wall": report("wall-clock, median", wall),
    }
    print()
    result["cpu"] = report("CPU (user+system), median", cpu)
    result["rcmd_answer_ms"] = ms(answer)
    print(f"\nrcmd's own answer to the listing (socket round trip, warm client): {ms(answer)} ms")
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
