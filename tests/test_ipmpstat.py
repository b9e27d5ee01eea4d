"""ipmpstat: options, tables and parsable output (no daemon), and in the lab
as an unprivileged user, without rcmd, and without importing pyroute2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from ipmpkit import open_to_all, start, tool

from ipmpadm import fields
from ipmpadm.ipmpstat import Usage, parse, probe_rows

REPORT: dict[str, Any] = {
    "groups": [
        {
            "name": "g",
            "state": "degraded",
            "failback": True,
            "fdt_ms": None,
            "active": ["nic1"],
            "inactive": ["nic2"],
            "unusable": ["nic0"],
        }
    ],
    "interfaces": [
        {
            "name": "nic0",
            "group": "g",
            "state": "offline",
            "why": "admin",
            "standby": False,
            "present": True,
            "link": "up",
            "probe": "disabled",
            "active": False,
            "hosted": [],
            "test_addresses": ["192.0.2.50/24"],
        },
        {
            "name": "nic2",
            "group": "g",
            "state": "standby",
            "why": None,
            "standby": True,
            "present": True,
            "link": "up",
            "probe": "ok",
            "active": False,
            "hosted": [],
            "test_addresses": [],
        },
    ],
    "addresses": [
        {"address": "2001:db8::10/64", "group": "g", "home": "nic0", "on": "nic1", "state": "up"},
    ],
    "probes": {
        "nic2": {
            "state": "ok",
            "targets": ["192.0.2.1"],
            "sent": 12,
            "answered": 11,
            "lost": 1,
            "rtt_ms": [0.5, 0.7],
            "test_address": "192.0.2.52",
        }
    },
}


def numeric(a: str) -> str:
    return a


def test_group_table_like_solaris() -> None:
    rows = fields.rows_for("g", REPORT)
    assert fields.table(fields.select("g", None), rows, numeric) == [
        "GROUP     GROUPNAME STATE     FDT       INTERFACES",
        "g         g         degraded  --        nic1 (nic2) [nic0]",
    ]


def test_interface_flags_and_states() -> None:
    rows = fields.rows_for("i", REPORT)
    out = fields.parsable(
        fields.select("i", "interface,active,flags,link,probe,state,why"), rows, numeric
    )
    assert out == ["nic0:no:-------:up:disabled:offline:admin", "nic2:no:is-----:up:ok:ok:"]


def test_parsable_escapes_colons_only_with_several_fields() -> None:
    rows = fields.rows_for("a", REPORT)
    assert fields.parsable(fields.select("a", "address,inbound,home"), rows, numeric) == [
        "2001\\:db8\\:\\:10:nic1:nic0"
    ]
    assert fields.parsable(fields.select("a", "ADDRESS"), rows, numeric) == ["2001:db8::10"]


def test_targets_from_the_probe_snapshot() -> None:
    rows = fields.rows_for("t", REPORT)
    assert fields.table(fields.select("t", None), rows, numeric) == [
        "INTERFACE   MODE       TESTADDR            TARGETS",
        "nic0        disabled   192.0.2.50          --",
        "nic2        routes     192.0.2.52          192.0.2.1",
    ]


def test_probe_rows_from_counters() -> None:
    before = {"nic2": {**REPORT["probes"]["nic2"], "sent": 10, "answered": 10}}
    rows = probe_rows(before, REPORT["probes"], 1.5)
    assert [(r["probe"], r["rtt"]) for r in rows] == [("11", None), ("12", "0.70ms")]
    assert rows[0]["rttavg"] == "0.60ms" and rows[0]["target"] == "192.0.2.1"


@pytest.mark.parametrize(
    "argv, fault",
    [
        ([], "one of -a, -g, -i, -p, -t must be given"),
        (["-g", "-i"], "at most one of -a, -g, -i, -p, -t may be given"),
        (["-gP"], "output field list (-o) required in parsable output mode (-P)"),
        (["-gP", "-o", "all"], '"-o all" is invalid in parsable output mode (-P)'),
        (["-x"], "option -x not recognized"),
    ],
)
def test_usage_errors(argv: list[str], fault: str) -> None:
    with pytest.raises(Usage, match=fault.replace("(", r"\(").replace(")", r"\)")):
        parse(argv)


def test_unknown_field() -> None:
    with pytest.raises(fields.FieldError, match='unknown output field "nope"'):
        fields.select("g", "group,nope")


def test_the_client_imports_no_pyroute2_nor_the_handler() -> None:
    code = (
        "import sys; from ipmpadm import ipmpstat, if_mpadm, connect, fields;"
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('pyroute2', 'rcm_ipmp', 'rcm_netkit', 'pluggy', 'click')];"
        "print(bad)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "[]", r


# -- in the lab -----------------------------------------------------------------


@pytest.fixture
def running(lab: None) -> Iterator[Any]:
    from rcm_lab import Lab

    made = Lab()
    try:
        made.build()
        yield start(made)
    finally:
        made.close()


@pytest.mark.lab
def test_any_user_sees_groups_interfaces_addresses(running: Any) -> None:
    lab = running
    open_to_all(lab)
    r = tool(lab, "ipmpstat", "-g", user=65534)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == [
        "GROUP     GROUPNAME STATE     FDT       INTERFACES",
        "g         g         ok        --        nic0 nic1",
    ]
    r = tool(lab, "ipmpstat", "-i", user=65534)
    assert r.stdout.splitlines() == [
        "INTERFACE   ACTIVE  GROUP       FLAGS     LINK      PROBE     STATE",
        "nic0        yes     g           -------   up        disabled  ok",
        "nic1        yes     g           -------   up        disabled  ok",
    ], r.stdout
    r = tool(lab, "ipmpstat", "-an", user=65534)
    assert r.stdout.splitlines()[1].split() == ["192.0.2.10", "up", "g", "nic0", "nic0", "nic0"]
    lab.switch("link", "set", "p-nic0", "down")
    assert lab.wait_for_addresses("nic1", ["192.0.2.10/24"])
    r = tool(lab, "ipmpstat", "-P", "-o", "interface,link,state,why", "-i", user=65534)
    assert r.stdout.splitlines() == ["nic0:down:failed:link", "nic1:up:ok:"], r.stdout
    r = tool(lab, "ipmpstat", "-gP", "-o", "group,state,interfaces")
    assert r.stdout == "g:degraded:nic1 [nic0]\n", r.stdout
    r = tool(lab, "ipmpstat", "-an", "-o", "address,inbound,home")
    assert "192.0.2.10          nic1        nic0" in r.stdout.splitlines(), r.stdout


@pytest.mark.lab
def test_without_rcmd_one_line_and_exit_1(lab: None) -> None:
    from rcm_lab import Lab

    with Lab() as made:
        r = tool(made, "ipmpstat", "-g")
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.startswith("ipmpstat: cannot contact rcmd: it is not running (")
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.lab
def test_probe_mode_runs_until_interrupted(running: Any) -> None:
    import signal
    import time
    from pathlib import Path

    argv = running.exec_argv("host", [str(Path(sys.executable).with_name("ipmpstat")), "-p"])
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, text=True, env=running.env(), start_new_session=True
    )
    time.sleep(1.5)
    assert proc.poll() is None  # still watching
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out.splitlines()[0].split() == [
        "TIME",
        "INTERFACE",
        "PROBE",
        "NETRTT",
        "RTT",
        "RTTAVG",
        "TARGET",
    ]
