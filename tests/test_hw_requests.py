"""The control socket's request kinds for the hardware features: ``list``
with ``dynamic``, ``function`` (cfgadm -x) and ``help`` (cfgadm -h ap_type),
checked field by field like every request."""

from __future__ import annotations

import pytest

from rcm.requests import BadRequest, validate


def test_list_dynamic_defaults_to_false() -> None:
    assert validate({"op": "list"})[1]["dynamic"] is False
    assert validate({"op": "list", "dynamic": True})[1]["dynamic"] is True


@pytest.mark.parametrize(
    ("request_", "fault"),
    [
        ({"op": "list", "dynamic": "yes"}, "dynamic must be true or false"),
        ({"op": "function", "ap_id": "pci:3"}, "function is missing"),
        ({"op": "function", "function": "led=attention,on"}, "ap_id is missing"),
        ({"op": "function", "ap_id": "pci:3", "function": 1}, "function must be a string"),
        ({"op": "help", "ap_types": "pci"}, "ap_types must be a list of strings"),
        ({"op": "function", "ap_id": "pci:3", "function": "led\n"}, "control character"),
    ],
)
def test_bad_fields_are_named(request_: dict, fault: str) -> None:
    with pytest.raises(BadRequest, match=fault):
        validate(request_)


def test_function_and_help() -> None:
    op, fields = validate({"op": "function", "ap_id": "pci:3", "function": "led=attention,on"})
    assert (op, fields) == ("function", {"ap_id": "pci:3", "function": "led=attention,on"})
    assert validate({"op": "help"}) == ("help", {"ap_types": ()})
