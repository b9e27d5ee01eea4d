"""The cluster-ring handler: corosync.conf's parser, the ring rule, the
running check, and the handler in the real engine (rcm's pytest plugin).

The kernel's view of the NICs is the one stand-in here (the handler takes an
``observe`` function); tests/test_lab_cluster.py runs it on the real kernel.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from corosync_files import corosync_conf, write_corosync
from rcm_cluster.corosync import Node, Ring, load, nodes, parse
from rcm_cluster.handler import ClusterHandler
from rcm_cluster.rings import Nic, judge, local_node
from rcm_cluster.running import corosync_pid

from rcm.errors import ConfigError
from rcm.model import Impact, Outcome

pytestmark = pytest.mark.rcm_handler("cluster")

N1 = {"name": "n1", "nodeid": 1, "ring0_addr": "192.0.2.10"}
N2 = {"name": "n2", "nodeid": 2, "ring0_addr": "192.0.2.20"}


def nic(name: str, *ips: str, working: bool = True) -> Nic:
    return Nic(name, working, frozenset(ipaddress.ip_address(i) for i in ips))


# -- the parser ------------------------------------------------------------------
def test_a_corosync_conf_as_pcs_writes_it(tmp_path: Path) -> None:
    path = write_corosync(tmp_path, [{**N1, "ring1_addr": "198.51.100.10"}, N2])
    assert load(path) == [
        Node("1", "n1", (Ring(0, "192.0.2.10"), Ring(1, "198.51.100.10"))),
        Node("2", "n2", (Ring(0, "192.0.2.20"),)),
    ]


def test_rings_in_number_order_names_and_ipv6_kept_as_written() -> None:
    text = "nodelist {\n node {\n  ring2_addr: node1-r2\n  ring0_addr: 2001:db8::10\n }\n}\n"
    [node] = nodes(parse(text, "c.conf"), "c.conf")
    assert [(r.number, r.address) for r in node.rings] == [(0, "2001:db8::10"), (2, "node1-r2")]
    assert node.rings[0].ip == ipaddress.ip_address("2001:db8::10")
    assert node.rings[1].ip is None  # a name: never resolved


def test_sections_on_one_line_with_their_brace_and_comments() -> None:
    top = parse("# c\ntotem{\n  # x\n  version: 2\n\n}\n", "c")
    [totem] = top.children("totem")
    assert totem.keys == [("version", "2", 4)]


@pytest.mark.parametrize(
    ("text", "line", "fault"),
    [
        ("totem {\n  version 2\n}\n", 2, "'version 2' is not 'key: value'"),
        ("totem {\n}\n}\n", 3, "'}' closes no section"),
        ("nodelist {\n  node {\n    ring0_addr: 192.0.2.10\n}\n", 1, "'nodelist' is never closed"),
        ("{\n}\n", 1, "a section needs a name"),
        ("totem {\n  a b: c\n}\n", 2, "'a b' is not a key name"),
        ("totem {\n  version: 2 }\n}\n", 2, "one item a line"),
        (
            "nodelist {\n node {\n  ring0_addr: 192.0.2.1\n  ring0_addr: 192.0.2.2\n }\n}\n",
            4,
            "ring0_addr is set twice in one node",
        ),
        ("nodelist {\n node {\n  ring0_addr:\n }\n}\n", 3, "ring0_addr has no address"),
    ],
)
def test_garbage_is_refused_in_one_line_naming_file_and_line(
    tmp_path: Path, text: str, line: int, fault: str
) -> None:
    path = tmp_path / "corosync.conf"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path)
    message = str(e.value)
    assert message.startswith(f"{path}: line {line}: ") and fault in message
    assert "\n" not in message


# -- the rule ----------------------------------------------------------------------
NODE = Node("1", "n1", (Ring(0, "192.0.2.10"), Ring(1, "198.51.100.10")))


def test_the_only_working_ring_is_a_system_veto_naming_the_ring() -> None:
    nics = {"nic0": nic("nic0", "192.0.2.10"), "nic1": nic("nic1")}
    only_ring0 = Node("1", "n1", (Ring(0, "192.0.2.10"),))
    veto = judge("nic0", only_ring0, nics)
    assert veto is not None and veto.impact is Impact.SYSTEM
    assert veto.reason == "corosync ring 0 (192.0.2.10) is on nic0, the node's only working ring"


def test_a_surviving_ring_makes_it_a_warning() -> None:
    nics = {"nic0": nic("nic0", "192.0.2.10"), "nic1": nic("nic1", "198.51.100.10")}
    veto = judge("nic0", NODE, nics)
    assert veto is not None and veto.impact is Impact.WARNING
    assert veto.reason == (
        "corosync ring 0 (192.0.2.10) is on nic0; ring 1 (198.51.100.10) on nic1 survives"
    )


def test_a_ring_on_a_nic_that_is_down_does_not_survive() -> None:
    nics = {"nic0": nic("nic0", "192.0.2.10"), "nic1": nic("nic1", "198.51.100.10", working=False)}
    veto = judge("nic0", NODE, nics)
    assert veto is not None and veto.impact is Impact.SYSTEM


def test_a_ring_whose_address_is_on_no_nic_does_not_survive() -> None:
    veto = judge("nic0", NODE, {"nic0": nic("nic0", "192.0.2.10")})
    assert veto is not None and veto.impact is Impact.SYSTEM


def test_two_rings_on_one_nic_are_both_named() -> None:
    veto = judge("nic0", NODE, {"nic0": nic("nic0", "192.0.2.10", "198.51.100.10")})
    assert veto is not None and veto.reason == (
        "corosync rings 0 (192.0.2.10) and 1 (198.51.100.10) are on nic0,"
        " the node's only working rings"
    )


def test_a_ring_named_by_host_name_cannot_be_judged_so_force_may_pass() -> None:
    node = Node("1", "n1", (Ring(0, "192.0.2.10"), Ring(1, "n1-ring1")))
    veto = judge("nic0", node, {"nic0": nic("nic0", "192.0.2.10")})
    assert veto is not None and veto.impact is Impact.DATA
    assert "ring 1 (n1-ring1): a host name, which rcm does not resolve (no DNS" in veto.reason


def test_nics_without_a_working_ring_are_none_of_its_business() -> None:
    nics = {"nic0": nic("nic0", "192.0.2.10", working=False), "nic2": nic("nic2", "203.0.113.1")}
    assert judge("nic0", NODE, nics) is None  # its ring is down already
    assert judge("nic2", NODE, nics) is None
    assert judge("nic9", NODE, nics) is None


def test_the_local_node_is_the_one_with_an_address_here_else_by_host_name() -> None:
    n1, n2 = NODE, Node("2", "n2", (Ring(0, "192.0.2.20"),))
    assert local_node([n1, n2], {"nic0": nic("nic0", "192.0.2.20")}, "n1") is n2
    assert local_node([n1, n2], {"nic0": nic("nic0")}, "n1.example.org") is n1
    assert local_node([n1, n2], {"nic0": nic("nic0")}, "other") is None


# -- is corosync running -----------------------------------------------------------
@pytest.fixture
def corosync_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real process named corosync (a copy of sleep), in its own session,
    ended with its group afterwards."""
    binary = tmp_path / "bin" / "corosync"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    proc = subprocess.Popen([str(binary), "600"], start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_live_corosync_is_found_by_pid_file_and_without_one(
    tmp_path: Path, corosync_process: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "corosync.pid"
    pid_file.write_text(f"{corosync_process.pid}\n")
    assert corosync_pid(pid_file) == corosync_process.pid
    assert corosync_pid(tmp_path / "none.pid") is not None  # found in /proc


def test_a_stale_pid_file_is_not_a_running_corosync(tmp_path: Path) -> None:
    proc = tmp_path / "proc"  # a /proc where pid 4242 was reused by sleep
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "comm").write_text("sleep\n")
    pid_file = tmp_path / "corosync.pid"
    pid_file.write_text("4242\n")
    assert corosync_pid(pid_file, proc) is None
    (proc / "4242" / "comm").write_text("corosync\n")
    assert corosync_pid(pid_file, proc) == 4242


# -- the handler in the engine (rcm's pytest plugin, entry point "cluster") --------
NICS = {"nic0": nic("nic0", "192.0.2.10"), "nic1": nic("nic1", "198.51.100.10")}


@pytest.fixture
def rcm_plugin() -> ClusterHandler:
    # The built-in entry point reads the kernel; this one sees NICS.
    return ClusterHandler(observe=lambda: NICS)


@pytest.fixture
def rcm_slots() -> dict[str, list[str]]:
    return {"s1": ["net/nic0"], "s2": ["net/nic1"]}


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    return write_corosync(tmp_path / "corosync", [N1, N2])


def section(conf: Path, running: str = "true", extra: str = "") -> str:
    return f'[plugins.cluster]\nconfig = "{conf}"\nrunning = {running}\n{extra}'


@pytest.fixture
def rcm_toml(conf: Path) -> str:
    return section(conf)


def test_detaching_the_only_ring_nic_is_refused_even_forced(rcm_harness, rcm_ap) -> None:
    for force in (False, True):
        result = rcm_harness.detach(rcm_ap, force=force)
        assert result.outcome is Outcome.VETOED
        assert [(v.handler, v.resource, v.impact, v.reason) for v in result.vetoes] == [
            (
                "cluster",
                "net/nic0",
                Impact.SYSTEM,
                "corosync ring 0 (192.0.2.10) is on nic0, the node's only working ring",
            )
        ]
    assert rcm_harness.present("s1")


def test_usage_is_listed(rcm_harness) -> None:
    usage = rcm_harness.listing().usage
    assert [u.info for u in usage["slot:s1"]] == [
        "nic0: carries corosync ring 0 (192.0.2.10) of node n1 (running)"
    ]
    assert usage["slot:s2"] == []


def test_a_second_ring_turns_it_into_a_warning_read_when_the_file_changes(
    rcm_harness, rcm_ap, conf: Path
) -> None:
    assert rcm_harness.detach(rcm_ap).outcome is Outcome.VETOED
    conf.write_text(corosync_conf([{**N1, "ring1_addr": "198.51.100.10"}, N2]))
    result = rcm_harness.detach(rcm_ap)
    assert result.outcome is Outcome.DONE
    assert [v.reason for v in result.warnings] == [
        "corosync ring 0 (192.0.2.10) is on nic0; ring 1 (198.51.100.10) on nic1 survives"
    ]


def test_other_nics_pass(rcm_harness) -> None:
    assert rcm_harness.detach("slot:s2").outcome is Outcome.DONE


def test_a_node_that_is_not_running_is_not_protected(make_rcm_harness, conf: Path) -> None:
    h = make_rcm_harness(rcm_toml=section(conf, "false"), slots={"s1": ["net/nic0"]})
    assert h.detach("slot:s1").outcome is Outcome.DONE


def test_running_auto_looks_for_corosync(
    make_rcm_harness, conf: Path, tmp_path: Path, corosync_process: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "corosync.pid"
    pid_file.write_text(f"{corosync_process.pid}\n")
    toml = section(conf, '"auto"', f'pid_file = "{pid_file}"\n')
    h = make_rcm_harness(rcm_toml=toml, slots={"s1": ["net/nic0"]})
    assert h.detach("slot:s1").outcome is Outcome.VETOED
    os.killpg(corosync_process.pid, signal.SIGKILL)
    corosync_process.wait()
    assert h.detach("slot:s1").outcome is Outcome.DONE


def test_no_corosync_conf_means_no_cluster(make_rcm_harness, tmp_path: Path) -> None:
    h = make_rcm_harness(rcm_toml=section(tmp_path / "absent.conf"), slots={"s1": ["net/nic0"]})
    [summary] = [c.result for c in h.calls.of(handler="cluster", hook="rcm_configure")]
    assert summary == f"no corosync configuration ({tmp_path / 'absent.conf'}): not a cluster node"
    assert h.detach("slot:s1").outcome is Outcome.DONE


def test_garbage_stops_the_start_and_fails_a_later_query(
    make_rcm_harness, rcm_harness, rcm_ap, conf: Path
) -> None:
    conf.write_text("totem {\n  version 2\n}\n")
    result = rcm_harness.detach(rcm_ap)  # started before the file went bad
    assert result.outcome is Outcome.FAILED
    assert f"{conf}: line 2: 'version 2' is not 'key: value'" in result.message
    assert rcm_harness.present("s1")
    with pytest.raises(ConfigError, match=f"{conf}: line 2: "):
        make_rcm_harness(rcm_toml=section(conf))


@pytest.mark.parametrize(
    ("extra", "key", "fault"),
    [
        ('ring = "x"\n', "plugins.cluster.ring", "unknown key"),
        ('pid_file = "run/corosync.pid"\n', "plugins.cluster.pid_file", "absolute path"),
    ],
)
def test_its_section_is_checked(
    make_rcm_harness, conf: Path, extra: str, key: str, fault: str
) -> None:
    with pytest.raises(ConfigError, match=rf"rcm.toml: {key}: .*{fault}"):
        make_rcm_harness(rcm_toml=section(conf, extra=extra))
    with pytest.raises(ConfigError, match=r"plugins.cluster.running: must be"):
        make_rcm_harness(rcm_toml=section(conf, running='"yes"'))
