"""cfgadm's command line: syntax, output layout and exit status.

The service is a fake (the seam is ``cfgadm.cli.open_service``): these tests
pin down what the admin sees for each Listing/Result the engine can return.
The real path (the executable against rcmd or the in-process engine and the
kernel) is covered by the lab tests.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cfgadm.cli as cli
from rcm.errors import BusyError, RcmError
from rcm.model import (
    Action,
    ApInfo,
    Condition,
    Impact,
    Listing,
    Occupant,
    Outcome,
    Receptacle,
    Result,
    Usage,
    Veto,
)

REPO = Path(__file__).resolve().parents[1]


def ap(name: str, r: str = "connected", o: str = "configured", c: str = "ok", info: str = ""):
    return ApInfo(
        f"net:{name}",
        "veth",
        Receptacle(r),
        Occupant(o),
        Condition(c),
        info,
        (f"net/{name}",),
    )


APS = [ap("nic0"), ap("nic1"), ap("nic2", "disconnected", "unconfigured", "unknown")]


@dataclass
class FakeService:
    """Just enough of rcm.service.Service: canned answers, recorded calls."""

    aps: list[ApInfo] = field(default_factory=lambda: list(APS))
    usage: dict[str, list[Usage]] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)
    vetoes: dict[str, list[Veto]] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    closed: bool = False
    raise_on_change: Exception | None = None

    def list_aps(self, ap_ids: list[str], verbose: bool, dynamic: bool = False) -> Listing:
        self.calls.append(("list", tuple(ap_ids), verbose))
        known = {a.ap_id: a for a in self.aps}
        chosen = [known[i] for i in ap_ids if i in known] if ap_ids else list(self.aps)
        missing = [i for i in ap_ids if i not in known]
        usage = {a.ap_id: self.usage[a.ap_id] for a in chosen if a.ap_id in self.usage}
        return Listing(chosen, usage if verbose else {}, missing)

    def change_state(
        self, action: Action, ap_id: str, force: bool, query_only: bool = False
    ) -> Result:
        self.calls.append(("query" if query_only else "change", action, ap_id, force))
        if self.raise_on_change is not None:
            raise self.raise_on_change
        if ap_id in self.vetoes:
            # As the engine reports a detach: every veto, the request's force;
            # the Result itself says what blocks and what -f overrode.
            vetoes = self.vetoes[ap_id]
            blocked = any(v.impact.blocks(force) for v in vetoes)
            message = f"{action.value} {ap_id} refused" if blocked else ""
            outcome = Outcome.VETOED if blocked else Outcome.DONE
            return Result(outcome, ap_id, message, list(vetoes), force=force)
        if query_only:
            return Result(Outcome.DONE, ap_id, force=force)
        return self.results.get(ap_id, Result(Outcome.DONE, ap_id, force=force))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    fake = FakeService()
    opened: list[bool] = []

    def open_service(need_write: bool) -> FakeService:
        opened.append(need_write)
        fake.calls.append(("open", need_write))
        return fake

    monkeypatch.setattr(cli, "open_service", open_service)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: False)
    return fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def changes(fake: FakeService) -> list[tuple]:
    return [c for c in fake.calls if c[0] in ("change", "query")]


DATA_VETO = Veto("nic1 is the last working member of IPMP group g", Impact.DATA, "net/nic1", "ipmp")
SYSTEM_VETO = Veto(
    "nic1 carries the root file system's NFS mount", Impact.SYSTEM, "net/nic1", "nfs"
)


# --------------------------------------------------------------------------- listing


def test_default_listing_layout(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys)
    assert status == 0 and err == ""
    assert out == textwrap.dedent("""\
        Ap_Id                Type         Receptacle   Occupant     Condition
        net:nic0             veth         connected    configured   ok
        net:nic1             veth         connected    configured   ok
        net:nic2             veth         disconnected unconfigured unknown
        """)
    assert ("open", False) in svc.calls and svc.closed
    assert ("list", (), False) in svc.calls


def test_long_ap_id_widens_column(svc: FakeService, capsys) -> None:
    svc.aps = [ap("a-very-long-interface-name")]
    _, out, _ = run(capsys, "-l")
    head, row = out.splitlines()
    assert row.startswith("net:a-very-long-interface-name veth")
    assert head.index("Type") == row.index("veth")


def test_verbose_listing_adds_information_with_usage_rows(svc: FakeService, capsys) -> None:
    svc.aps = [ap("nic0", info="veth peer nic0p"), ap("nic1")]
    svc.usage = {
        "net:nic0": [
            Usage("net/nic0", "nic0: hosts data addresses 192.0.2.10/24 of IPMP group g", "ipmp"),
            Usage("net/nic0", "nic0: test address 192.0.2.20/24", "ipmp"),
        ],
        "net:nic1": [Usage("net/nic1", "nic1: member of IPMP group g", "ipmp")],
    }
    status, out, _ = run(capsys, "-lv")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "Ap_Id",
        "Type",
        "Receptacle",
        "Occupant",
        "Condition",
        "Busy",
        "Phys_Id",
        "Information",
    ]
    col = lines[0].index("Information")
    assert lines[1].startswith("net:nic0") and lines[1][col:] == "veth peer nic0p"
    assert lines[2][:col].strip() == ""
    assert lines[2][col:] == "nic0: hosts data addresses 192.0.2.10/24 of IPMP group g"
    assert lines[3][col:] == "nic0: test address 192.0.2.20/24"
    # No info of its own: the first usage line takes the ap's row.
    assert lines[4].startswith("net:nic1") and lines[4][col:] == "nic1: member of IPMP group g"
    assert len(lines) == 5
    assert ("list", (), True) in svc.calls


def test_no_trailing_blanks(svc: FakeService, capsys) -> None:
    _, out, _ = run(capsys, "-v")
    assert all(line == line.rstrip() for line in out.splitlines())


def test_noheadings_and_cols(svc: FakeService, capsys) -> None:
    status, out, _ = run(capsys, "-s", "noheadings,cols=ap_id:condition")
    assert status == 0
    assert out.splitlines() == [
        "net:nic0             ok",
        "net:nic1             ok",
        "net:nic2             unknown",
    ]


def test_repeated_s_and_attached_value(svc: FakeService, capsys) -> None:
    status, out, _ = run(capsys, "-snoheadings", "-s", "cols=o_state:ap_id", "-s", "delim=|")
    assert status == 0
    assert out.splitlines() == [
        "configured|net:nic0",
        "configured|net:nic1",
        "unconfigured|net:nic2",
    ]


def test_select_match_and_sort(svc: FakeService, capsys) -> None:
    def ids(*argv: str) -> list[str]:
        status, out, _ = run(capsys, "-s", "noheadings,cols=ap_id", *argv)
        assert status == 0
        return out.split()

    assert ids("-s", "select=ap_id(net:nic1)") == ["net:nic1"]
    assert ids("-s", "select=r_state(connected):o_state(configured)") == ["net:nic0", "net:nic1"]
    assert ids("-s", "select=ap_id(nic),match=partial") == ["net:nic0", "net:nic1", "net:nic2"]
    assert ids("-s", "select=ap_id(nic),match=exact") == []
    assert ids("-s", "select=ap_id(net:nic[02]),match=regex") == ["net:nic0", "net:nic2"]
    assert ids("-s", "sort=-ap_id") == ["net:nic2", "net:nic1", "net:nic0"]
    assert ids("-s", "select=class(net)") == ["net:nic0", "net:nic1", "net:nic2"]


@pytest.mark.parametrize(
    "sopt",
    [
        "bogus",
        "cols=ap_id:nonsense",
        "match=fuzzy",
        "select=ap_id",
        "select=foo(x)",
        "select=ap_id(a(b)),match=regex",
        "cols=",
        "select=ap_id([),match=regex",
    ],
)
def test_bad_listing_option_is_usage_error(svc: FakeService, capsys, sopt: str) -> None:
    status, out, err = run(capsys, "-s", sopt)
    assert status == 3 and out == ""
    assert err.startswith("cfgadm: ") and "Usage: cfgadm" in err
    assert "Traceback" not in err
    assert not any(c[0] == "open" for c in svc.calls)


@pytest.mark.parametrize("sopt", ["cols=ap_id:time", "cols2=time", "select=status(x)"])
def test_solaris_listing_option_not_implemented_is_not_supported(
    svc: FakeService, capsys, sopt: str
) -> None:
    status, _, err = run(capsys, "-s", sopt)
    assert status == 2 and "not supported" in err


def test_missing_ap_reported_after_the_found_ones(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "-l", "net:nic0", "net:nope")
    assert status == 1
    assert out.splitlines()[1].startswith("net:nic0")
    assert len(out.splitlines()) == 2
    assert err == "cfgadm: Attachment point not found: net:nope\n"
    assert ("list", ("net:nic0", "net:nope"), False) in svc.calls


def test_anyone_may_list(svc: FakeService, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    status, out, _ = run(capsys, "-a")
    assert status == 0 and "net:nic0" in out


def test_open_service_error_is_one_line(monkeypatch, capsys) -> None:
    def broken(need_write):
        raise RcmError("/run/rcm/rcm.lock: held by pid 42 (cfgadm)")

    monkeypatch.setattr(cli, "open_service", broken)
    status, out, err = run(capsys, "-l")
    assert status == 1 and out == ""
    assert err == "cfgadm: /run/rcm/rcm.lock: held by pid 42 (cfgadm)\n"


def test_os_error_from_service_is_one_line(monkeypatch, capsys) -> None:
    def broken(need_write):
        raise ConnectionRefusedError(111, "Connection refused", "/run/rcm/rcmd.sock")

    monkeypatch.setattr(cli, "open_service", broken)
    status, _, err = run(capsys, "-l")
    assert status == 1 and err == "cfgadm: /run/rcm/rcmd.sock: Connection refused\n"


# --------------------------------------------------------------------------- state changes


def test_unconfigure_done_prints_messages(svc: FakeService, capsys) -> None:
    svc.results["net:nic0"] = Result(
        Outcome.DONE,
        "net:nic0",
        messages=["moving addresses from nic0 to nic1: 192.0.2.10/24"],
    )
    status, out, err = run(capsys, "-c", "unconfigure", "net:nic0")
    assert status == 0 and err == ""
    assert out == "moving addresses from nic0 to nic1: 192.0.2.10/24\n"
    assert changes(svc) == [("change", Action.UNCONFIGURE, "net:nic0", False)]
    assert ("open", True) in svc.calls and svc.closed


@pytest.mark.parametrize(
    "argv",
    [
        ["-cconfigure", "net:nic2"],
        ["-c", "configure", "net:nic2"],
        ["-c", "configure", "--", "net:nic2"],
        ["-vc", "configure", "net:nic2"],
    ],
)
def test_getopt_forms(svc: FakeService, capsys, argv: list[str]) -> None:
    status, _, _ = run(capsys, *argv)
    assert status == 0
    assert changes(svc) == [("change", Action.CONFIGURE, "net:nic2", False)]


def test_each_ap_in_turn_stopping_at_first_failure(svc: FakeService, capsys) -> None:
    svc.results["net:nic1"] = Result(
        Outcome.BUSY, "net:nic1", "Resource is busy: net/nic1 (operation 7)"
    )
    status, _, err = run(capsys, "-c", "disconnect", "net:nic0", "net:nic1", "net:nic2")
    assert status == 1
    assert err == "cfgadm: Resource is busy: net/nic1 (operation 7)\n"
    assert [c[2] for c in changes(svc)] == ["net:nic0", "net:nic1"]


def table_rows(lines: list[str]) -> list[list[str]]:
    """The rows of a resource table (heading, rule, rows), cut at the
    heading's columns; a line with no Resource continues the row above (a
    wrapped Information cell), joined back with a space."""
    starts = [lines[0].index(h) for h in ("Resource", "Impact", "Handler", "Information")]
    assert set(lines[1]) <= {"-", " "}
    rows: list[list[str]] = []
    for line in lines[2:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        if cells[0]:
            rows.append(cells)
        else:
            assert cells[1:3] == ["", ""], line
            rows[-1][3] += " " + cells[3]
    return rows


def test_vetoed_prints_table_and_hint(svc: FakeService, capsys) -> None:
    svc.results["net:nic1"] = Result(
        Outcome.VETOED,
        "net:nic1",
        "unconfigure net:nic1 refused",
        vetoes=[DATA_VETO],
        usage=[
            Usage("net/nic1", "nic1: hosts data addresses 192.0.2.11/24 of IPMP group g", "ipmp")
        ],
        messages=["querying 2 handlers"],
    )
    status, out, err = run(capsys, "-c", "unconfigure", "net:nic1")
    assert status == 1
    assert out == "querying 2 handlers\n"
    lines = err.splitlines()
    assert lines[0] == "cfgadm: Component system is busy, try again: unconfigure net:nic1 refused"
    assert lines[1].split() == ["Resource", "Impact", "Handler", "Information"]
    assert table_rows(lines[1:-1]) == [
        ["net/nic1", "data", "ipmp", "nic1 is the last working member of IPMP group g"],
        ["net/nic1", "", "ipmp", "nic1: hosts data addresses 192.0.2.11/24 of IPMP group g"],
    ]
    assert lines[-1] == "use -f to override"


LONG_REASONS = [
    "nic1 is the last working member of IPMP group g, and every data address of the group"
    " (192.0.2.10/24, 192.0.2.11/24, 2001:db8::10/64, 2001:db8::11/64) would be lost with it",
    "a-single-unbroken-word-that-is-far-longer-than-any-terminal-column-could-ever-hold-"
    "without-being-cut-somewhere-along-the-way-0123456789",
    "first line of a multi-line reason\nsecond line, which is also rather long and goes on"
    " well past where an eighty-column terminal would have to wrap it",
]


@pytest.mark.parametrize("reason", LONG_REASONS)
def test_veto_table_fits_80_columns(svc: FakeService, capsys, reason: str) -> None:
    long_resource = "/devices/pci0000:00/0000:00:1c.4/0000:3b:00.0/net/enp59s0f0"
    svc.results["net:nic1"] = Result(
        Outcome.VETOED,
        "net:nic1",
        "unconfigure net:nic1 refused",
        vetoes=[
            Veto(reason, Impact.DATA, "net/nic1", "ipmp"),
            Veto("holds the NFS root", Impact.SYSTEM, long_resource, "a-long-handler-name"),
        ],
    )
    status, _, err = run(capsys, "-c", "unconfigure", "net:nic1")
    assert status == 1
    table = err.splitlines()[1:]
    assert max(len(line) for line in table) <= 80, err
    text = " ".join(line[table[0].index("Information") :] for line in table[2:])
    # Every word of the reason is there, in order (a word too long is cut, not lost).
    assert "".join(text.split()).startswith("".join(reason.split()))
    assert "holds the NFS root" in text


def test_system_veto_gets_no_force_hint(svc: FakeService, capsys) -> None:
    svc.vetoes["net:nic1"] = [DATA_VETO, SYSTEM_VETO]
    status, _, err = run(capsys, "-c", "unconfigure", "net:nic1")
    assert status == 1
    assert "system" in err and "use -f" not in err


def test_failed_with_rollback(svc: FakeService, capsys) -> None:
    svc.results["net:nic0"] = Result(
        Outcome.FAILED,
        "net:nic0",
        "ipmp: net/nic0: offline failed: no route to host",
        messages=["moving addresses from nic0 to nic1: 192.0.2.10/24"],
        rolled_back=True,
    )
    status, out, err = run(capsys, "-c", "unconfigure", "net:nic0")
    assert status == 1
    assert out == "moving addresses from nic0 to nic1: 192.0.2.10/24\n"
    assert err.splitlines() == [
        "cfgadm: ipmp: net/nic0: offline failed: no route to host",
        "cfgadm: the previous configuration was restored",
    ]


def test_failed_without_rollback(svc: FakeService, capsys) -> None:
    svc.results["net:nic0"] = Result(Outcome.FAILED, "net:nic0", "hardware step failed")
    _, _, err = run(capsys, "-c", "unconfigure", "net:nic0")
    assert "restored" not in err


@pytest.mark.parametrize(
    ("outcome", "message", "status", "expected"),
    [
        (Outcome.NO_SUCH_AP, "", 1, "cfgadm: Attachment point not found: net:zz\n"),
        (
            Outcome.NOT_SUPPORTED,
            "connect is not supported for net:zz",
            2,
            "cfgadm: connect is not supported for net:zz\n",
        ),
        (
            Outcome.DENIED,
            "permission denied: peer uid 1000 is not root",
            1,
            "cfgadm: permission denied: peer uid 1000 is not root\n",
        ),
        (Outcome.BUSY, "Resource is busy: net/zz", 1, "cfgadm: Resource is busy: net/zz\n"),
    ],
)
def test_other_outcomes(svc: FakeService, capsys, outcome, message, status, expected) -> None:
    svc.results["net:zz"] = Result(outcome, "net:zz", message)
    got, out, err = run(capsys, "-c", "connect", "net:zz")
    assert (got, out, err) == (status, "", expected)


def test_done_with_warning_prints_it_once(svc: FakeService, capsys) -> None:
    """A warning veto does not stop the change; it is printed once, in the table."""
    svc.vetoes["net:nic0"] = [
        Veto("nic0 has a manual address 198.51.100.1/24", Impact.WARNING, "net/nic0", "net")
    ]
    status, out, err = run(capsys, "-c", "unconfigure", "net:nic0")
    assert (status, out) == (0, "")
    lines = err.splitlines()
    assert lines[0] == "cfgadm: unconfigure net:nic0 done, with warnings:"
    assert table_rows(lines[1:]) == [
        ["net/nic0", "warning", "net", "nic0 has a manual address 198.51.100.1/24"]
    ]


def test_rcm_error_during_change(svc: FakeService, capsys) -> None:
    svc.raise_on_change = BusyError("Resource is busy: net/nic0")
    status, _, err = run(capsys, "-c", "unconfigure", "net:nic0")
    assert (status, err) == (1, "cfgadm: Resource is busy: net/nic0\n")
    assert svc.closed


def test_non_root_may_not_change_state(svc: FakeService, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    status, out, err = run(capsys, "-c", "unconfigure", "net:nic0")
    assert status == 1 and out == ""
    assert err == (
        "cfgadm: permission denied: only root may change state (configure/unconfigure)\n"
    )
    assert svc.calls == []


# --------------------------------------------------------------------------- -f and confirmation


def test_force_with_y_acts_directly_and_says_what_it_overrode(svc: FakeService, capsys) -> None:
    svc.vetoes["net:nic1"] = [DATA_VETO]
    status, out, err = run(capsys, "-fyc", "unconfigure", "net:nic1")
    assert (status, out) == (0, "")
    assert changes(svc) == [("change", Action.UNCONFIGURE, "net:nic1", True)]
    lines = err.splitlines()
    assert lines[0] == "cfgadm: unconfigure net:nic1 done; -f overrode:"
    assert table_rows(lines[1:]) == [["net/nic1", "data", "ipmp", DATA_VETO.reason]]


def test_force_with_n_shows_vetoes_and_does_not_act(svc: FakeService, capsys) -> None:
    svc.vetoes["net:nic1"] = [DATA_VETO]
    status, out, err = run(capsys, "-fnc", "unconfigure", "net:nic1")
    assert (status, out) == (1, "")
    # The query is the forced change's: it says what -f would override.
    assert changes(svc) == [("query", Action.UNCONFIGURE, "net:nic1", True)]
    lines = err.splitlines()
    assert lines[0] == "cfgadm: unconfigure net:nic1 is vetoed; -f would override:"
    assert table_rows(lines[1:-1]) == [["net/nic1", "data", "ipmp", DATA_VETO.reason]]
    assert lines[-1] == "cfgadm: not confirmed (-n): net:nic1 left unchanged"


def test_forced_change_says_what_it_forced_past_once(svc: FakeService, capsys) -> None:
    """A script (stdin not a terminal) said -f: no question, no query; the
    change reports what -f overrode, once."""
    svc.vetoes["net:nic1"] = [DATA_VETO]
    status, _, err = run(capsys, "-f", "-c", "unconfigure", "net:nic1")
    assert status == 0
    assert changes(svc) == [("change", Action.UNCONFIGURE, "net:nic1", True)]
    assert err.count(DATA_VETO.reason) == 1
    assert "vetoed" not in err and "Component system is busy" not in err


@pytest.mark.parametrize(
    ("answer", "acted"),
    [("yes\n", True), ("y\n", True), ("no\n", False), ("\n", False), ("", False)],
)
def test_force_on_tty_asks(svc: FakeService, capsys, monkeypatch, answer, acted) -> None:
    svc.vetoes["net:nic1"] = [DATA_VETO]
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    status, _, err = run(capsys, "-f", "-c", "unconfigure", "net:nic1")
    assert cli.CONFIRM_PROMPT in err
    assert status == (0 if acted else 1)
    assert (("change", Action.UNCONFIGURE, "net:nic1", True) in svc.calls) is acted
    # Shown before the question, not again after the change.
    assert err.count(DATA_VETO.reason) == 1
    assert "-f overrode" not in err


def test_force_nothing_to_confirm(svc: FakeService, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # would answer no if asked
    status, _, err = run(capsys, "-f", "-c", "unconfigure", "net:nic0")
    assert (status, err) == (0, "")
    assert cli.CONFIRM_PROMPT not in err


@pytest.mark.parametrize("tty", [True, False])
def test_force_cannot_override_system_veto(svc: FakeService, capsys, monkeypatch, tty) -> None:
    svc.vetoes["net:nic1"] = [DATA_VETO, SYSTEM_VETO]
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: tty)
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    status, _, err = run(capsys, "-f", "-c", "unconfigure", "net:nic1")
    assert status == 1
    assert [c[0] for c in changes(svc)] == ["query" if tty else "change"]
    assert err.startswith("cfgadm: Component system is busy, try again: unconfigure net:nic1")
    assert cli.CONFIRM_PROMPT not in err and "use -f" not in err
    assert SYSTEM_VETO.reason in err


def test_n_without_f_just_acts(svc: FakeService, capsys) -> None:
    status, _, _ = run(capsys, "-n", "-c", "unconfigure", "net:nic0")
    assert status == 0
    assert changes(svc) == [("change", Action.UNCONFIGURE, "net:nic0", False)]


# --------------------------------------------------------------------------- the engine's Result


@pytest.mark.parametrize(
    ("outcome", "vetoes", "force", "blocking", "forced_past", "overridable", "status"),
    [
        (Outcome.VETOED, [DATA_VETO], False, [DATA_VETO], [], True, 1),
        (Outcome.DONE, [DATA_VETO], True, [], [DATA_VETO], False, 0),
        (Outcome.VETOED, [DATA_VETO, SYSTEM_VETO], False, [DATA_VETO, SYSTEM_VETO], [], False, 1),
        (Outcome.VETOED, [DATA_VETO, SYSTEM_VETO], True, [SYSTEM_VETO], [], False, 1),
        (Outcome.NOT_SUPPORTED, [], False, [], [], False, 2),
    ],
)
def test_result_says_what_blocks_and_what_was_forced(
    outcome, vetoes, force, blocking, forced_past, overridable, status
) -> None:
    """The veto policy is the engine's: cfgadm reads these, over the socket
    as JSON, and works nothing out again."""
    warning = Veto("manual address", Impact.WARNING, "net/nic1", "net")
    sent = Result(outcome, "net:nic1", "m", [*vetoes, warning], force=force, operation=3)
    got = Result.from_dict(json.loads(json.dumps(sent.to_dict())))
    assert got == sent
    assert got.blocking == blocking
    assert got.forced_past == forced_past
    assert got.warnings == [warning]
    assert got.overridable is overridable
    assert got.exit_status == status == sent.to_dict()["exit_status"]


# --------------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-q"], "illegal option -- q"),
        (["-lq"], "illegal option -- q"),
        (["--jsn"], "unrecognized option: --jsn"),
        (["-c"], "-c"),
        (["-c", "explode", "net:nic0"], "invalid function for -c: 'explode'"),
        (["-c", "unconfigure", "-c", "configure", "net:nic0"], "-c may be given only once"),
        (["-cconfigure", "-fc", "configure", "net:nic0"], "-c may be given only once"),
        (["-c", "unconfigure"], "-c needs at least one ap_id"),
        (["-x", "led"], "-x needs at least one ap_id"),
        (["-t"], "-t needs at least one ap_id"),
        (["-l", "-c", "unconfigure", "net:nic0"], "-l and -c are mutually exclusive"),
        (["-c", "unconfigure", "-x", "led", "net:nic0"], "mutually exclusive"),
        (["-t", "-l", "net:nic0"], "mutually exclusive"),
        (["-y", "-n", "-c", "unconfigure", "net:nic0"], "-y and -n are mutually exclusive"),
        (["-yn", "-c", "unconfigure", "net:nic0"], "-y and -n are mutually exclusive"),
        (["-f", "-l"], "-f is only valid with -c or -x"),
        (["-y"], "-y is only valid with -c or -x"),
        (["-a", "-c", "configure", "net:nic0"], "-a is only valid when listing"),
        (["-s", "noheadings", "-c", "configure", "net:nic0"], "-s is only valid when listing"),
    ],
)
def test_usage_errors(svc: FakeService, capsys, argv: list[str], fragment: str) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 3 and out == ""
    first, *rest = err.splitlines()
    assert first.startswith("cfgadm: ") and fragment in first
    assert rest[0].startswith("Usage: cfgadm")
    assert svc.calls == []


def test_usage_error_even_for_non_root(svc: FakeService, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    status, _, _ = run(capsys, "-c", "bogus", "net:nic0")
    assert status == 3


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-o", "unusable_ok", "-l"], "Hardware specific options not supported: unusable_ok"),
        # -t and -o with -c reach the ap class: tests/test_cfgadm_full.py
    ],
)
def test_not_supported(svc: FakeService, capsys, argv: list[str], fragment: str) -> None:
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("cfgadm: ") and fragment in err
    assert svc.calls == []


def test_h_prints_usage(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "-h")
    assert status == 0 and err == ""
    assert out.startswith("Usage: cfgadm") and "-c function ap_id" in out
    assert svc.calls == []


def test_long_help(svc: FakeService, capsys) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert out.startswith("Usage: cfgadm") and "-s listing_options" in out


def test_main_reads_sys_argv(svc: FakeService, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["cfgadm", "-s", "noheadings,cols=ap_id"])
    assert cli.main() == 0
    assert capsys.readouterr().out.split() == ["net:nic0", "net:nic1", "net:nic2"]


# --------------------------------------------------------------------------- start-up cost


def _python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


def test_import_does_not_pull_in_pyroute2_or_rcm() -> None:
    r = _python(
        "import sys, cfgadm.cli\n"
        "heavy = [m for m in ('pyroute2', 'tabulate', 'pluggy', 'rcm', 'rcm.client', 'asyncio')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))",
        "-X",
        "importtime",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "cfgadm.cli" in imported
    assert not any(m.split(".")[0] in ("pyroute2", "tabulate") for m in imported)


def test_listing_does_not_import_pyroute2_or_tabulate() -> None:
    """The listing path itself (with a fake service, so no engine) stays light:
    what the real client imports is rcm.client's business."""
    r = _python(
        textwrap.dedent("""\
        import sys
        import cfgadm.cli as cli
        from rcm.model import ApInfo, Condition, Occupant, Receptacle
        from rcm.model import Listing
        class S:
            def list_aps(self, ap_ids, verbose):
                return Listing([ApInfo("net:nic0", "veth", Receptacle.CONNECTED,
                                       Occupant.CONFIGURED, Condition.OK)])
            def close(self):
                pass
        cli.open_service = lambda need_write: S()
        status = cli.main(["-lv"])
        bad = [m for m in ("pyroute2", "tabulate") if m in sys.modules]
        print("STATUS", status, "BAD", bad, file=sys.stderr)
        """)
    )
    assert "STATUS 0 BAD []" in r.stderr, r.stderr
    assert "net:nic0" in r.stdout


def test_client_path_imports_no_engine(tmp_path: Path) -> None:
    """``cfgadm -l`` against rcmd (a stand-in answering on the socket) imports
    nothing of the engine: no pluggy, no entry-point scan (importlib.metadata),
    no pyroute2, no tabulate, and none of what measured slow at start-up
    (the socket module's enums, dataclasses)."""
    runtime = tmp_path / "run"
    runtime.mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(runtime / "rcmd.sock"))
    server.listen(1)
    server.settimeout(60)
    listing = Listing([ap("nic0")])
    requests: list[dict] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            buf = b""
            while not buf.endswith(b"\n"):
                buf += conn.recv(65536)
            requests.append(json.loads(buf))
            conn.sendall(json.dumps(listing.to_dict()).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = textwrap.dedent("""\
        import sys
        at_start = set(sys.modules)  # an older editable install's finder imports pathlib
        import cfgadm.cli as cli
        status = cli.main(["-l"])
        heavy = ("pluggy", "importlib.metadata", "pyroute2", "tabulate", "rcm.coordinator",
                 "rcm.plugins", "socket", "dataclasses", "pathlib")
        loaded = [m for m in heavy if m in sys.modules and m not in at_start]
        print("STATUS", status, "LOADED", loaded, file=sys.stderr)
        """)
    env = {**os.environ, "RCM_RUNTIME_DIR": str(runtime), "RCM_STATE_DIR": str(tmp_path / "s")}
    try:
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
        )
        thread.join(timeout=10)
    finally:
        server.close()
    assert "STATUS 0 LOADED []" in r.stderr, r.stderr
    assert requests == [{"op": "list", "ap_ids": [], "verbose": False}]
    assert r.stdout.splitlines()[1].startswith("net:nic0")


def test_usage_error_from_real_process_has_no_traceback() -> None:
    r = _python("import sys, cfgadm.cli; sys.exit(cfgadm.cli.main(['-c', 'explode', 'x']))")
    assert r.returncode == 3
    assert r.stderr.startswith("cfgadm: invalid function for -c") and "Traceback" not in r.stderr
