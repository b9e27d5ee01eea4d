"""cfgadm's full option set against rcmd and the real kernel, in a throwaway lab.

- ``--dry-run`` is the query phase only: the kernel's links and addresses are identical
  before and after, and the plan names the addresses the IPMP handler would move;
- ``--json`` reports each handler's answer in order, with what moved where;
- ``-o netns=<name>`` hands a NIC to a named namespace (a container's) through the same
  phases and vetoes, ``configure`` brings it back; a mistyped namespace is an error naming
  it, and is never created;
- the udev policy (``RCM_PROTECT``, ``RCM_IGNORE``), read from a udev database folder laid
  out as /run/udev/data is (there is no udevd here), vetoes a ``net:`` ap;
- without rcmd (the engine in cfgadm's process) a change prints exactly what it prints
  with rcmd: stdout, stderr and exit status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rcm_lab import Lab

pytestmark = pytest.mark.lab

V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"


def started(lab: Lab) -> Lab:
    lab.build()
    lab.start_rcmd()
    ok = lab.wait_for_addresses("nic0", [V4_10, V6_10]) and lab.wait_for_addresses(
        "nic1", [V4_11, V6_11]
    )
    assert ok, lab.snapshot()
    return lab


@pytest.fixture
def ready(lab: None) -> Iterator[Lab]:
    made = Lab()
    try:
        yield started(made)
    finally:
        made.close()


def kernel_state(lab: Lab) -> dict[str, object]:
    """Everything a change would touch: links (with state) and addresses, host and holding."""
    out: dict[str, object] = {}
    for role in ("host", "holding"):
        links = lab._json(role, "link", "show") or []
        out[f"{role} links"] = sorted((x["ifname"], tuple(x.get("flags", []))) for x in links)
        addrs = lab._json(role, "addr", "show") or []
        out[f"{role} addresses"] = sorted(
            (x["ifname"], a["local"], a["prefixlen"]) for x in addrs for a in x.get("addr_info", [])
        )
    return out


def test_dry_run_changes_nothing_and_json_says_what_moved(ready: Lab) -> None:
    lab = ready
    before = kernel_state(lab)
    r = lab.cfgadm("--dry-run", "-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["unconfigure net:nic0: dry run, nothing is changed", "  net/nic0"]
    assert lines[-1] == "verdict: would proceed"
    body = lines[2:-1]
    assert body[0] == (
        f"    ipmp: uses it: nic0: hosts data addresses {V4_10}, {V6_10} of IPMP group g;"
        " state ok, group g ok"
    )
    said = body.index("    ipmp: agrees")
    assert body[said + 1] == f"      would: moving addresses from nic0 to nic1: {V4_10}, {V6_10}"
    # every other handler asked about net/nic0 (hw, cluster ...) only agrees
    others = [line for line in body[1:] if not line.startswith(("    ipmp:", "      would:"))]
    assert all(line.endswith(": agrees") for line in others), body
    r = lab.cfgadm("--dry-run", "--json", "-v", "-f", "-c", "disconnect", "net:nic1")
    doc = json.loads(r.stdout)
    (result,) = doc["results"]
    assert result["hardware"] == (
        f"move nic1 out of the host into the holding network namespace {lab.ns['holding']}"
    )
    ipmp = [a for a in result["answers"] if a["handler"] == "ipmp"]
    assert [(a["phase"], a["handler"], a["plan"]) for a in ipmp] == [
        ("query", "ipmp", [f"moving addresses from nic1 to nic0: {V4_11}, {V6_11}"])
    ]
    assert kernel_state(lab) == before, "a dry run changed the kernel"
    assert lab.addresses("nic0") == [V4_10, V6_10]

    # The real change, as JSON: each handler's answer in order, and what moved where.
    r = lab.cfgadm("--json", "-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)["results"]
    moved = f"moving addresses from nic0 to nic1: {V4_10}, {V6_10}"
    assert result["messages"] == [moved]
    ipmp = [a for a in result["answers"] if a["handler"] == "ipmp"]
    assert [(a["phase"], a["handler"], a["status"]) for a in ipmp] == [
        ("query", "ipmp", "answered"),
        ("offline", "ipmp", "done"),
    ]
    assert ipmp[1]["messages"] == [moved]
    # in order: every query before the first offline
    phases = [a["phase"] for a in result["answers"]]
    assert phases == sorted(phases, key=lambda p: p != "query"), phases
    assert sorted(lab.addresses("nic1")) == sorted([V4_10, V4_11, V6_10, V6_11])
    r = lab.cfgadm("--json", "-c", "configure", "net:nic0")
    (result,) = json.loads(r.stdout)["results"]
    assert result["outcome"] == "done"
    assert ("online", "ipmp") in [(a["phase"], a["handler"]) for a in result["answers"]]
    assert lab.wait_for_addresses("nic0", [V4_10, V6_10]), lab.snapshot()


def test_netns_option_hands_a_nic_to_a_container_and_back(ready: Lab, netns) -> None:
    lab = ready
    ctr = netns("ctr")
    typo = ctr + "-typo"

    r = lab.cfgadm("-c", "unconfigure", "-o", f"netns={typo}", "net:nic0")
    assert r.returncode == 1
    assert r.stderr == (
        f"cfgadm: net:nic0: network namespace {typo!r} does not exist"
        " (cfgadm hands a NIC only to an existing namespace; it creates none)\n"
    )
    assert not Path("/run/netns", typo).exists(), "a mistyped namespace was created"
    assert lab.addresses("nic0") == [V4_10, V6_10]

    r = lab.cfgadm("-c", "unconfigure", "-o", f"netns={ctr}", "net:nic0")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"moving addresses from nic0 to nic1: {V4_10}, {V6_10}\n"
    assert "nic0" in lab.links_in(ctr) and "nic0" not in lab.links_in("host")
    assert "nic0" not in lab.links_in("holding")
    r = lab.cfgadm("-l", "-s", "noheadings,cols=ap_id:r_state:o_state:info", "net:nic0")
    assert r.stdout.split(None, 3)[:3] == ["net:nic0", "disconnected", "unconfigured"]
    assert r.stdout.rstrip().endswith(f"in network namespace {ctr}")

    # the same vetoes: nic1 is now the last working member of the group
    r = lab.cfgadm("-c", "unconfigure", "-o", f"netns={ctr}", "net:nic1")
    assert r.returncode == 1 and "last working member of IPMP group g" in " ".join(r.stderr.split())
    assert "nic1" in lab.links_in("host")

    # configure brings it back from where it was handed (no -o needed)
    r = lab.cfgadm("-c", "configure", "net:nic0")
    assert r.returncode == 0, r.stderr
    assert "nic0" in lab.links_in("host") and "nic0" not in lab.links_in(ctr)
    assert lab.wait_for_addresses("nic0", [V4_10, V6_10]), lab.snapshot()
    r = lab.cfgadm("-l", "-s", "noheadings,cols=ap_id:r_state", "net:nic0")
    assert r.stdout.split() == ["net:nic0", "connected"]


def test_udev_policy_vetoes_a_net_ap(lab: None, tmp_path: Path) -> None:
    """RCM_PROTECT from a udev database file named as libudev names it (n<ifindex>)."""
    db = tmp_path / "udev-data"
    db.mkdir()
    made = Lab(rcm_settings={"udev": {"database": str(db)}})
    try:
        made.build()
        ifindex = {x["ifname"]: x["ifindex"] for x in made._json("host", "link", "show") or []}
        (db / f"n{ifindex['nic0']}").write_text(
            "I:1\nE:RCM_PROTECT=system\nE:RCM_REASON=nic0 carries the cluster heartbeat\n"
            "G:systemd\n"
        )
        started(made)
        before = kernel_state(made)
        r = made.cfgadm("-f", "-c", "unconfigure", "net:nic0")
        assert r.returncode == 1
        assert "Component system is busy, try again" in r.stderr
        assert "system    udev       nic0 carries the cluster heartbeat" in r.stderr
        assert "use -f to override" not in r.stderr
        assert kernel_state(made) == before
        r = made.cfgadm("-lv", "net:nic0")
        assert "protected by udev rule (RCM_PROTECT=system)" in r.stdout

        # data: -f gets past it; RCM_IGNORE: neither listed nor touched
        (db / f"n{ifindex['nic0']}").write_text("E:RCM_PROTECT=data\n")
        (db / f"n{ifindex['nic1']}").write_text("E:RCM_IGNORE=1\n")
        r = made.cfgadm("-s", "noheadings,cols=ap_id")
        assert r.stdout.split() == ["net:nic0"]
        r = made.cfgadm("-c", "unconfigure", "net:nic1")
        assert r.returncode == 1 and r.stderr == "cfgadm: Attachment point not found: net:nic1\n"
        r = made.cfgadm("-c", "unconfigure", "net:nic0")
        assert r.returncode == 1 and "protected by a udev rule" in r.stderr
        assert "use -f to override" in r.stderr
        r = made.cfgadm("-f", "-c", "unconfigure", "net:nic0")
        assert r.returncode == 0, r.stderr
        assert "nic0" in made.links_in("holding")
    finally:
        made.close()


def test_dry_run_without_rcmd_creates_nothing(built: Lab) -> None:
    """In-process (no rcmd), a dry run takes no lock and opens no journal: the runtime and
    state folders stay as they were, and the kernel too."""
    lab = built
    runtime, state = sorted(lab.runtime_dir.iterdir()), sorted(lab.state_dir.iterdir())
    before = kernel_state(lab)
    r = lab.cfgadm("--dry-run", "--json", "-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)["results"]
    assert result["outcome"] == "done" and result["operation"] is None
    assert {a["phase"] for a in result["answers"]} == {"query"}
    assert kernel_state(lab) == before
    assert sorted(lab.runtime_dir.iterdir()) == runtime
    assert sorted(lab.state_dir.iterdir()) == state


def _outcome(lab: Lab, *args: str) -> tuple[int, str, str]:
    """What a user sees of ``cfgadm args…``: exit status, stdout, stderr."""
    r = lab.cfgadm(*args)
    return r.returncode, r.stdout, r.stderr


def test_output_is_the_same_with_and_without_rcmd(ready: Lab) -> None:
    """docs/cfgadm.md: "The output and the exit status are the same either way".  The
    handlers' lines (the IPMP handler's "moving addresses …") reach cfgadm in the Result,
    once, on stdout; the in-process engine's log must not print them again on stderr."""
    lab = ready

    def round_trip() -> list[tuple[int, str, str]]:
        seen = [_outcome(lab, "-c", "unconfigure", "net:nic0")]
        assert sorted(lab.addresses("nic1")) == sorted([V4_10, V4_11, V6_10, V6_11])
        seen.append(_outcome(lab, "-c", "configure", "net:nic0"))
        assert lab.wait_for_addresses("nic0", [V4_10, V6_10]), lab.snapshot()
        seen.append(_outcome(lab, "-c", "unconfigure", "net:nic1"))
        seen.append(_outcome(lab, "-c", "configure", "net:nic1"))
        assert lab.wait_for_addresses("nic1", [V4_11, V6_11]), lab.snapshot()
        return seen

    with_rcmd = round_trip()
    lab.stop_rcmd()
    without_rcmd = round_trip()
    moved = f"moving addresses from nic0 to nic1: {V4_10}, {V6_10}\n"
    assert with_rcmd[0] == (0, moved, "")
    assert without_rcmd == with_rcmd
