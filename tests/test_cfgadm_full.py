"""cfgadm's full option set against a fake service: --json, --dry-run, -t, -o, cols2=,
shell completion.  What the engine answers is canned; what the admin (or a script) sees for
each answer is pinned down here.  The same paths against rcmd and the kernel:
tests/test_cfgadm_lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cfgadm.cli as cli
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


def ap(name: str, r: str = "connected", o: str = "configured", c: str = "ok") -> ApInfo:
    return ApInfo(
        f"net:{name}",
        "veth",
        Receptacle(r),
        Occupant(o),
        Condition(c),
        f"mac of {name}",
        (f"net/{name}",),
    )


DATA = Veto("nic1 is the last working member of IPMP group g", Impact.DATA, "net/nic1", "ipmp")
SYSTEM = Veto("boot disk's NIC", Impact.SYSTEM, "net/nic1", "udev")
USE = Usage("net/nic0", "nic0: hosts data addresses 192.0.2.10/24 of IPMP group g", "ipmp")
PLAN = "moving addresses from nic0 to nic1: 192.0.2.10/24"


def query_answer(ap_id: str, vetoes: list[Veto], force: bool) -> Result:
    """A query as the engine gives it: the tree, each handler's answer and plan."""
    resource = "net/" + ap_id.partition(":")[2]
    blocked = any(v.impact.blocks(force) for v in vetoes)
    return Result(
        Outcome.VETOED if blocked else Outcome.DONE,
        ap_id,
        f"unconfigure {ap_id} refused" if blocked else "",
        list(vetoes),
        [USE] if resource == "net/nic0" else [],
        force=force,
        answers=[
            {
                "phase": "query",
                "handler": "ipmp",
                "resource": resource,
                "veto": vetoes[0].to_dict() if vetoes else None,
                "plan": [] if vetoes else [PLAN],
                "messages": [],
                "status": "answered",
            }
        ],
        tree=[{"resource": resource, "parent": None}],
        hardware=f"move {resource[4:]} out of the host into the holding network namespace h",
    )


@dataclass
class FakeService:
    aps: list[ApInfo] = field(default_factory=lambda: [ap("nic0"), ap("nic1"), ap("nic2")])
    vetoes: dict[str, list[Veto]] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)

    def list_aps(self, ap_ids: list[str], verbose: bool) -> Listing:
        self.calls.append(("list", tuple(ap_ids), verbose))
        known = {a.ap_id: a for a in self.aps}
        chosen = [known[i] for i in ap_ids if i in known] if ap_ids else list(self.aps)
        usage = {"net:nic0": [USE]} if verbose else {}
        return Listing(chosen, usage, [i for i in ap_ids if i not in known])

    def change_state(
        self,
        action: Action,
        ap_id: str,
        force: bool,
        query_only: bool = False,
        options: str = "",
    ) -> Result:
        self.calls.append(("query" if query_only else "change", action, ap_id, force, options))
        if ap_id not in {a.ap_id for a in self.aps}:
            return Result(Outcome.NO_SUCH_AP, ap_id)
        vetoes = self.vetoes.get(ap_id, [])
        if query_only:
            return query_answer(ap_id, vetoes, force)
        if any(v.impact.blocks(force) for v in vetoes):
            return Result(Outcome.VETOED, ap_id, f"{action.value} {ap_id} refused", vetoes)
        return Result(Outcome.DONE, ap_id, messages=[PLAN], vetoes=vetoes, force=force)

    def test_ap(self, ap_id: str, options: str = "") -> Result:
        self.calls.append(("test", ap_id, options))
        if ap_id == "net:nic9":
            return Result(Outcome.NO_SUCH_AP, ap_id)
        return Result(
            Outcome.NOT_SUPPORTED, ap_id, f"Configuration operation not supported: {ap_id}"
        )

    def close(self) -> None:
        pass


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    fake = FakeService()
    monkeypatch.setattr(cli, "open_service", lambda need_write: fake)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: False)
    return fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def changes(fake: FakeService) -> list[tuple]:
    return [c for c in fake.calls if c[0] == "change"]


# --------------------------------------------------------------------------- --json


def test_json_listing_schema(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "--json", "-s", "select=ap_id(net:nic0):class(net)")
    assert status == 0 and err == ""
    doc = json.loads(out)
    assert doc["schema"] == "rcm.cfgadm/1" and doc["command"] == "list"
    assert doc["exit_status"] == 0 and doc["missing"] == []
    (only,) = doc["aps"]
    assert only == {
        "ap_id": "net:nic0",
        "class": "net",
        "type": "veth",
        "receptacle": "connected",
        "occupant": "configured",
        "condition": "ok",
        "info": "mac of nic0",
        "busy": False,
        "phys_id": "",
        "resources": ["net/nic0"],
        "usage": [USE.to_dict()],
    }


def test_json_listing_missing_ap_is_in_the_document_and_exit_1(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "-l", "--json", "net:nic0", "net:nic9")
    doc = json.loads(out)
    assert status == 1 and doc["exit_status"] == 1 and doc["missing"] == ["net:nic9"]
    assert [a["ap_id"] for a in doc["aps"]] == ["net:nic0"]
    assert "Attachment point not found: net:nic9" in err


def test_json_change_each_result_in_order(svc: FakeService, capsys) -> None:
    svc.vetoes = {"net:nic1": [DATA]}
    status, out, err = run(capsys, "--json", "-c", "unconfigure", "net:nic0", "net:nic1")
    assert status == 1
    assert err == ""  # the document says it all
    doc = json.loads(out)
    assert doc["command"] == "change" and doc["function"] == "unconfigure"
    assert doc["dry_run"] is False and doc["exit_status"] == 1
    first, second = doc["results"]
    assert first["outcome"] == "done" and first["messages"] == [PLAN]
    assert first["verdict"] == {"proceeds": True, "blocking": [], "with_force": "not needed"}
    assert second["outcome"] == "vetoed" and second["vetoes"] == [DATA.to_dict()]
    assert second["verdict"]["with_force"] == "proceeds"
    assert second["verdict"]["blocking"] == [DATA.to_dict()]


def test_json_with_a_system_veto_says_force_would_not_help(svc: FakeService, capsys) -> None:
    svc.vetoes = {"net:nic1": [DATA, SYSTEM]}
    status, out, _ = run(capsys, "--json", "-f", "-c", "unconfigure", "net:nic1")
    doc = json.loads(out)
    assert status == 1 and doc["force"] is True
    assert doc["results"][0]["verdict"]["with_force"] == "refused"


# --------------------------------------------------------------------------- --dry-run


def test_dry_run_prints_the_plan_and_changes_nothing(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "--dry-run", "-c", "unconfigure", "net:nic0")
    assert status == 0 and err == ""
    assert out.splitlines() == [
        "unconfigure net:nic0: dry run, nothing is changed",
        "  net/nic0",
        f"    ipmp: uses it: {USE.info}",
        "    ipmp: agrees",
        f"      would: {PLAN}",
        "verdict: would proceed",
    ]
    assert changes(svc) == []
    assert [c[0] for c in svc.calls] == ["query"]


def test_dry_run_verbose_adds_the_hardware_step(svc: FakeService, capsys) -> None:
    _, out, _ = run(capsys, "-v", "--dry-run", "-c", "unconfigure", "net:nic0")
    assert "  hardware step: move nic0 out of the host into the holding network namespace h" in out


def test_dry_run_veto_says_whether_force_gets_past(svc: FakeService, capsys) -> None:
    svc.vetoes = {"net:nic1": [DATA]}
    status, out, _ = run(capsys, "--dry-run", "-c", "unconfigure", "net:nic1")
    assert status == 1
    lines = out.splitlines()
    assert "    ipmp: vetoes (data)" in lines
    assert any(line.startswith("net/nic1    data      ipmp") for line in lines)
    assert lines[-1] == "verdict: would be refused; -f would override the data vetoes"
    # with -f: the query is forced, and the plan says what -f overrides
    status, out, _ = run(capsys, "--dry-run", "-f", "-c", "unconfigure", "net:nic1")
    assert status == 0
    assert out.splitlines()[-1] == "verdict: would proceed: -f overrides 1 data veto(es)"
    assert changes(svc) == []


def test_dry_run_system_veto(svc: FakeService, capsys) -> None:
    svc.vetoes = {"net:nic1": [SYSTEM]}
    status, out, _ = run(capsys, "--dry-run", "-f", "-c", "unconfigure", "net:nic1")
    assert status == 1
    assert out.splitlines()[-1] == (
        "verdict: would be refused; -f would not override a system veto"
    )


def test_dry_run_json(svc: FakeService, capsys) -> None:
    status, out, _ = run(capsys, "--dry-run", "--json", "-c", "unconfigure", "net:nic0")
    doc = json.loads(out)
    assert status == 0 and doc["dry_run"] is True
    (result,) = doc["results"]
    assert result["answers"][0]["plan"] == [PLAN]
    assert result["tree"] == [{"resource": "net/nic0", "parent": None}]
    assert result["hardware"].startswith("move nic0")
    assert changes(svc) == []


def test_dry_run_asks_nothing_even_with_f_at_a_terminal(svc, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    svc.vetoes = {"net:nic1": [DATA]}
    status, _, err = run(capsys, "--dry-run", "-f", "-c", "unconfigure", "net:nic1")
    assert status == 0 and "yes/no" not in err


def test_dry_run_is_only_for_c(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "--dry-run", "-l")
    assert status == 3 and out == "" and "--dry-run is only valid with -c" in err
    assert svc.calls == []


def test_dry_run_of_a_missing_ap(svc: FakeService, capsys) -> None:
    status, _, err = run(capsys, "--dry-run", "-c", "unconfigure", "net:nic9")
    assert status == 1 and "Attachment point not found: net:nic9" in err


# --------------------------------------------------------------------------- -o, -t


def test_o_goes_to_the_ap_class_with_c(svc: FakeService, capsys) -> None:
    status, _, _ = run(capsys, "-c", "unconfigure", "-o", "netns=ctr1", "net:nic0")
    assert status == 0
    assert changes(svc) == [("change", Action.UNCONFIGURE, "net:nic0", False, "netns=ctr1")]


def test_o_repeated_is_joined_as_one_list(svc: FakeService, capsys) -> None:
    run(capsys, "-c", "configure", "-o", "a=1", "-o", "b=2", "net:nic0")
    assert changes(svc)[0][4] == "a=1,b=2"


def test_t_says_not_supported_as_solaris(svc: FakeService, capsys) -> None:
    status, out, err = run(capsys, "-t", "net:nic0")
    assert status == 2 and out == ""
    assert err == "cfgadm: Configuration operation not supported: net:nic0\n"
    status, _, err = run(capsys, "-t", "net:nic9")
    assert status == 1 and "Attachment point not found: net:nic9" in err


def test_t_json(svc: FakeService, capsys) -> None:
    status, out, _ = run(capsys, "-t", "--json", "-o", "x=1", "net:nic0")
    doc = json.loads(out)
    assert status == 2 and doc["command"] == "test" and doc["exit_status"] == 2
    assert doc["results"][0]["outcome"] == "not_supported"
    assert ("test", "net:nic0", "x=1") in svc.calls


def test_t_needs_root(svc: FakeService, capsys, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    status, _, err = run(capsys, "-t", "net:nic0")
    assert status == 1 and "only root" in err
    assert svc.calls == []


# --------------------------------------------------------------------------- cols2


def test_cols2_is_the_second_line_of_a_verbose_listing(svc: FakeService, capsys) -> None:
    status, out, _ = run(capsys, "-v", "-s", "cols=ap_id:condition,cols2=type:info")
    assert status == 0
    assert out.splitlines() == [
        "Ap_Id                Condition",
        "Type         Information",
        "net:nic0             ok",
        "veth         mac of nic0",
        "net:nic1             ok",
        "veth         mac of nic1",
        "net:nic2             ok",
        "veth         mac of nic2",
    ]


def test_cols2_with_delim_and_without_v(svc: FakeService, capsys) -> None:
    _, out, _ = run(capsys, "-v", "-s", "noheadings,cols=ap_id,cols2=type,delim=;")
    assert out.splitlines()[:2] == ["net:nic0", "veth"]
    _, out, _ = run(capsys, "-s", "noheadings,cols=ap_id,cols2=type")  # Solaris: -v only
    assert out.split() == ["net:nic0", "net:nic1", "net:nic2"]


# --------------------------------------------------------------------------- completion


def test_completion_of_ap_ids_and_functions(svc: FakeService) -> None:
    from click.shell_completion import ShellComplete

    def complete(args: list[str], incomplete: str) -> list[str]:
        comp = ShellComplete(cli.command, {}, "cfgadm", "_CFGADM_COMPLETE")
        return [c.value for c in comp.get_completions(args, incomplete)]

    assert complete(["-c", "unconfigure"], "net:nic") == ["net:nic0", "net:nic1", "net:nic2"]
    assert complete(["-c", "unconfigure"], "net:nic1") == ["net:nic1"]
    assert complete(["-c"], "un") == ["unconfigure"]
    assert complete(["-c"], "") == ["configure", "unconfigure", "connect", "disconnect"]


def test_completion_offers_nothing_when_rcm_cannot_be_reached(monkeypatch) -> None:
    from cfgadm.complete import ap_ids
    from rcm.errors import RcmError

    def broken(need_write: bool):
        raise RcmError("no rcmd")

    monkeypatch.setattr(cli, "open_service", broken)
    assert ap_ids() == []


def test_bash_completion_script_is_click_s(tmp_path: Path) -> None:
    """What docs/cfgadm.md tells the admin to eval: a bash function for cfgadm."""
    script = Path(sys.executable).with_name("cfgadm")
    r = subprocess.run(
        [str(script)],
        env={**os.environ, "_CFGADM_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "_cfgadm_completion" in r.stdout and "complete " in r.stdout


# --------------------------------------------------------------------------- -y / -n

QUESTION = "This operation will suspend activity on SCSI bus: c0"


class AskingService(FakeService):
    """An ap class that asks before it acts, as Solaris' cfgadm_scsi does."""

    def change_state(self, action, ap_id, force, query_only=False, options="", confirmed=False):
        if not confirmed and not query_only:
            self.calls.append(("asked", ap_id))
            return Result(Outcome.UNCONFIRMED, ap_id, QUESTION)
        self.calls.append(("change", action, ap_id, force, options))
        return Result(Outcome.DONE, ap_id)


@pytest.fixture
def asking(monkeypatch: pytest.MonkeyPatch) -> AskingService:
    fake = AskingService()
    monkeypatch.setattr(cli, "open_service", lambda need_write: fake)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: False)
    monkeypatch.setattr(cli, "_terminal", lambda: False)
    return fake


def test_class_question_y_answers_yes(asking: AskingService, capsys) -> None:
    status, _, err = run(capsys, "-y", "-c", "disconnect", "net:nic0")
    assert status == 0 and err == ""
    assert asking.calls == [
        ("asked", "net:nic0"),
        ("change", Action.DISCONNECT, "net:nic0", False, ""),
    ]


def test_class_question_n_answers_no(asking: AskingService, capsys) -> None:
    status, out, err = run(capsys, "-n", "-c", "disconnect", "net:nic0")
    assert status == 1 and out == ""
    assert err == (f"cfgadm: {QUESTION}\ncfgadm: not confirmed (-n): net:nic0 left unchanged\n")
    assert changes(asking) == []


def test_class_question_no_terminal_assumes_n(asking: AskingService, capsys) -> None:
    status, _, err = run(capsys, "-c", "disconnect", "net:nic0")
    assert status == 1
    assert "not confirmed (-n assumed: not a terminal): net:nic0 left unchanged" in err
    assert changes(asking) == []


@pytest.mark.parametrize(("typed", "done"), [("yes\n", True), ("y\n", True), ("no\n", False)])
def test_class_question_at_a_terminal(asking, capsys, monkeypatch, typed, done) -> None:
    import io

    monkeypatch.setattr(cli, "_terminal", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    status, _, err = run(capsys, "-c", "disconnect", "net:nic0")
    assert err.startswith(f"{QUESTION}\nContinue (yes/no)? ")
    assert (status == 0) is done
    assert bool(changes(asking)) is done


def test_class_question_refused_in_json(asking: AskingService, capsys) -> None:
    status, out, _ = run(capsys, "--json", "-c", "disconnect", "net:nic0")
    doc = json.loads(out)
    assert status == 1 and doc["results"][0]["outcome"] == "unconfirmed"
    assert doc["results"][0]["message"] == QUESTION
