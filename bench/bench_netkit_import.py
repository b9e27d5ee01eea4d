"""What rcm_netkit costs a process at start: imports, first Netlink, in-process ``cfgadm -l``.

    python bench/bench_netkit_import.py [--runs 11] [--tree DIR ...]  (as root)

For each tree (a checkout with its own ``.venv``; default: this one), runs
each command as a child process and takes its CPU time (user + system, from
``getrusage(RUSAGE_CHILDREN)``: steadier than wall time on a shared machine),
interleaving trees and commands; prints medians side by side.  ``cfgadm -l``
runs with no rcmd (the in-process engine) in a throwaway namespace holding
one veth pair, with empty configuration, state and runtime directories.
Also says whether importing the plugins pulls in pyroute2 or asyncio.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

#: pyroute2's submodules without its package ``__init__`` (which imports every
#: protocol it has): how much that ``__init__`` costs.  Measured, not used.
_NO_INIT = (
    "import importlib.util, sys, types\n"
    "spec = importlib.util.find_spec('pyroute2')\n"
    "stub = types.ModuleType('pyroute2')\n"
    "stub.__path__ = list(spec.submodule_search_locations)\n"
    "sys.modules['pyroute2'] = stub\n"
    "import pyroute2.iproute.linux\n"
)

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import click' (the floor)": ["-c", "import click"],
    "import asyncio": ["-c", "import asyncio"],
    "import pyroute2.iproute.linux": ["-c", "import pyroute2.iproute.linux"],
    "  the same without pyroute2's __init__": ["-c", _NO_INIT],
    "import rcm_netkit.netlink": ["-c", "import rcm_netkit.netlink"],
    "import rcm_net.plugin, rcm_ipmp.plugin": ["-c", "import rcm_net.plugin, rcm_ipmp.plugin"],
    "Netlink().links()": ["-c", "from rcm_netkit.netlink import Netlink; Netlink().links()"],
}


def child_cpu(cmd: list[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return used * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--tree", action="append", type=Path, help="a checkout with a .venv")
    args = p.parse_args()
    trees = args.tree or [HERE]
    ns = f"rcmbench-imp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    results: dict[tuple[str, Path], list[float]] = {}
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            ["ip", "-n", ns, "link", "add", "nic0", "type", "veth", "peer", "name", "nic1"],
            check=True,
        )
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ)
            for var in ("RCM_CONFIG_DIR", "RCM_STATE_DIR", "RCM_RUNTIME_DIR"):
                env[var] = os.path.join(tmp, var)
                os.makedirs(env[var])
            for _ in range(args.runs):
                for tree in trees:
                    python = str(tree / ".venv" / "bin" / "python")
                    for label, argv in COMMANDS.items():
                        results.setdefault((label, tree), []).append(child_cpu([python, *argv]))
                    cfgadm = [str(tree / ".venv" / "bin" / "cfgadm"), "-l"]
                    results.setdefault(("cfgadm -l, no rcmd (in-process)", tree), []).append(
                        child_cpu(["ip", "netns", "exec", ns, *cfgadm], env)
                    )
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)

    labels = list(dict.fromkeys(label for label, _tree in results))
    print(f"CPU ms (user + system) of each command, medians of {args.runs}:")
    print(f"  {'':42s}" + "".join(f" {t.name[-14:]:>14s}" for t in trees))
    for label in labels:
        row = "".join(f" {statistics.median(results[(label, t)]):14.1f}" for t in trees)
        print(f"  {label:42s}{row}")
    for tree in trees:
        python = str(tree / ".venv" / "bin" / "python")
        code = (
            "import sys, rcm_net.plugin, rcm_ipmp.plugin; "
            "print([m for m in ('pyroute2', 'asyncio') if m in sys.modules])"
        )
        out = subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()
        print(f"  {tree.name}: importing the plugins imports {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
