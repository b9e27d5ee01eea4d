"""corosync's files for tests: a corosync.conf written from a list of nodes,
and the rcm.toml section that points the cluster handler at it.

Written in corosync's own syntax (as corosync.conf(5) and pcs write it), so
the handler's parser reads what a real cluster node has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def corosync_conf(nodes: Sequence[Mapping[str, Any]], cluster_name: str = "lab") -> str:
    """corosync.conf text: totem, a nodelist of ``nodes`` (each a mapping of
    node keys, e.g. ``{"name": "n1", "nodeid": 1, "ring0_addr": "192.0.2.10"}``),
    quorum and logging, as pcs writes them."""
    lines = [
        "# written by tests/corosync_files.py",
        "totem {",
        "    version: 2",
        f"    cluster_name: {cluster_name}",
        "    transport: knet",
        "    crypto_cipher: aes256",
        "    crypto_hash: sha256",
        "}",
        "",
        "nodelist {",
    ]
    for node in nodes:
        lines.append("    node {")
        lines += [f"        {key}: {value}" for key, value in node.items()]
        lines.append("    }")
        lines.append("")
    lines += [
        "}",
        "",
        "quorum {",
        "    provider: corosync_votequorum",
        "}",
        "",
        "logging {",
        "    to_logfile: yes",
        "    logfile: /var/log/cluster/corosync.log",
        "    to_syslog: yes",
        "    timestamp: on",
        "}",
    ]
    return "\n".join(lines) + "\n"


def write_corosync(
    folder: Path, nodes: Sequence[Mapping[str, Any]], cluster_name: str = "lab"
) -> Path:
    """Write ``folder/corosync.conf``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corosync.conf"
    path.write_text(corosync_conf(nodes, cluster_name))
    return path


def cluster_section(config: Path, running: bool | str = True, pid_file: Path | None = None) -> dict:
    """The ``[plugins.cluster]`` table pointing at ``config``; ``running``
    says whether the node runs (``"auto"``: look at ``pid_file`` and /proc)."""
    section: dict[str, Any] = {"config": str(config), "running": running}
    if pid_file is not None:
        section["pid_file"] = str(pid_file)
    return section
