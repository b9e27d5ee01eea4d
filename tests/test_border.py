"""The border between engine and handlers, read from the source as a newcomer would.

- The engine (``rcm``) imports no handler and no kernel toolkit, and its own words
  (rcmd's help) carry no networking.
- The net plugin knows nothing of IPMP; IPMP reaches the kernel through the toolkit
  (``rcm_netkit``), never through the net plugin.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imported(folder: Path) -> dict[str, set[str]]:
    """Top-level module names each file under ``folder`` imports."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.partition(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.partition(".")[0])
        out[str(path.relative_to(REPO))] = names
    return out


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("rcm", {"rcm_netkit", "rcm_net", "rcm_ipmp", "pyroute2"}),
        ("plugins/net", {"rcm_ipmp"}),
        ("plugins/ipmp", {"rcm_net"}),
        ("netkit", {"rcm_net", "rcm_ipmp"}),
    ],
)
def test_who_imports_whom(folder: str, forbidden: set[str]) -> None:
    crossing = {f: sorted(names & forbidden) for f, names in imported(REPO / folder).items()}
    assert not {f: n for f, n in crossing.items() if n}


def test_the_net_plugin_reads_no_ipmp_file() -> None:
    for path in (REPO / "plugins" / "net").rglob("*.py"):
        text = path.read_text()
        assert "interfaces" not in text and "ipmp.toml" not in text, path


def test_rcmd_help_says_nothing_of_networks() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "from rcm.daemon import main; main(['--help'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "usage: rcmd" in shown
    for word in ("network", "netns", "nic", "ipmp", "netlink", "namespace"):
        assert word not in shown, word
