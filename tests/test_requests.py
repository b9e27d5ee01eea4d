"""The control socket's request schemas (rcm.requests), without a daemon: every value a
client can send either validates to fields of the schema's types or is a BadRequest naming
the field.  The daemon's side of it is in tests/test_control.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcm.control import parse_request
from rcm.requests import SCHEMAS, BadRequest, validate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {"op": st.sampled_from([*SCHEMAS, "reboot"]) | json_values},
    optional={
        name: json_values | st.sampled_from([True, False, "net:nic0", ["net:nic0"]])
        for name in ("ap_ids", "verbose", "action", "ap_id", "force", "query_only")
    },
)


@settings(max_examples=300)
@given(requests)
def test_a_request_is_valid_with_typed_fields_or_a_bad_request(request: dict) -> None:
    try:
        op, fields = validate(request)
    except BadRequest as e:
        assert str(e)
        return
    for name, field in SCHEMAS[op].items():
        value = fields[name]
        if field.kind is list:
            assert isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        else:
            assert isinstance(value, field.kind), (name, value)
        if name in request:
            assert value is request[name]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"op": "change_state", "action": "unconfigure", "ap_id": "a", "force": "false"}, "force"),
        ({"op": "change_state", "action": "unconfigure", "ap_id": "a", "force": 0}, "force"),
        ({"op": "change_state", "action": "x", "ap_id": "a", "query_only": "no"}, "query_only"),
        ({"op": "change_state", "ap_id": "a"}, "action"),
        ({"op": "list", "ap_ids": ["\ud800"]}, "ap_ids[0]"),
        ({"op": "list", "ap_ids": ["a" * 2000]}, "ap_ids[0]"),
        ({"op": "list", "verbose": 1}, "verbose"),
        ({"op": None}, "op"),
        ({}, "op"),
    ],
)
def test_the_error_names_the_field(request_: dict, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate(request_)
    assert str(caught.value).startswith(field), caught.value


def test_nesting_beyond_the_parser_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_request(b"[" * 100_000 + b"]" * 100_000)
    assert parse_request(json.dumps({"op": "list"}).encode()) == {"op": "list"}
