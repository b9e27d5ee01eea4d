"""``cfgadm -l`` naming aps or ap types that do not exist (Solaris: only
``cfgadm: Attachment point not found``, no heading over an empty table).

The real cfgadm with the in-process engine and every installed plugin, reading
the fake machine of tests/hwkit.py (a sysfs tree laid out as /sys): listing
needs no root."""

from __future__ import annotations

import json

import pytest
from hwkit import Machine, cfgadm, running_machine

HEADING = "Ap_Id                Type         Receptacle   Occupant     Condition"


@pytest.fixture
def machine(tmp_path, monkeypatch):
    yield from running_machine(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "args",
    [
        ("-l", "floppy"),  # no such ap type
        ("-l", "cpu:cpu9"),  # a class that exists, an ap that does not
        ("-lv", "floppy"),
        ("-l", "-a", "floppy"),
        ("-l", "-s", "cols=ap_id:condition,delim=:", "floppy"),
        ("-lv", "-s", "cols2=type:info", "floppy"),
    ],
)
def test_nothing_found_prints_only_the_error(machine: Machine, args: tuple[str, ...]) -> None:
    status, out, err = cfgadm(*args)
    assert (status, out, err) == (1, "", f"cfgadm: Attachment point not found: {args[-1]}\n")


def test_several_names_print_the_rows_found_then_the_errors(machine: Machine) -> None:
    status, out, err = cfgadm("-l", "floppy", "cpu:cpu1", "cpu:cpu9")
    assert status == 1
    assert out.splitlines() == [
        HEADING,
        "cpu:cpu1             cpu          connected    configured   ok",
    ]
    assert err.splitlines() == [
        "cfgadm: Attachment point not found: floppy",
        "cfgadm: Attachment point not found: cpu:cpu9",
    ]


def test_every_name_missing_prints_every_error_and_no_heading(machine: Machine) -> None:
    status, out, err = cfgadm("-l", "floppy", "cpu:cpu9")
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        "cfgadm: Attachment point not found: floppy",
        "cfgadm: Attachment point not found: cpu:cpu9",
    ]


def test_json_still_prints_its_document(machine: Machine) -> None:
    """A script reads the document whatever the outcome (docs/cfgadm.md)."""
    status, out, err = cfgadm("--json", "-l", "floppy")
    doc = json.loads(out)
    assert (status, doc["aps"], doc["missing"], doc["exit_status"]) == (1, [], ["floppy"], 1)
    assert err == "cfgadm: Attachment point not found: floppy\n"


def test_a_class_with_no_aps_is_not_an_error(machine: Machine) -> None:
    """An existing name whose listing is empty is not "not found": the heading
    stays, as for any listing with no rows (here, a select that matches none)."""
    status, out, err = cfgadm("-l", "-s", "select=type(floppy)", "cpu")
    assert (status, out.splitlines(), err) == (0, [HEADING], "")
