"""Fuzzing rcmd's control socket: raw bytes and JSON of every shape, to a real running rcmd.

Any local user may connect, so whatever arrives must be answered with one JSON line (an
``error``, a listing, or a result), logged without a traceback, and must change nothing
(requests that would really change the lab are left out: a valid ``change_state`` naming
``net:nic0`` or ``net:nic1``).  After every example rcmd still answers root's listing.

Examples: ``RCM_FUZZ_EXAMPLES`` (see tests/fuzzkit.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fuzzkit import (
    FUZZ,
    REAL_APS,
    Rig,
    ask_raw,
    list_answer,
    progress,
    rcmd_rig,
    unchanged,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from rcm.requests import BadRequest, validate

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def rcmd_lab() -> Iterator[Rig]:
    """rcmd in a lab, its log, and the state every example must leave as it was."""
    with rcmd_rig() as rig:
        yield rig


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["false", "true", "", "net:nic9", "net:", "\ud800", "a\x00b", "x" * 2000])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
OPS = st.sampled_from(["list", "change_state"]) | st.text(max_size=12) | JSON
ACTIONS = st.sampled_from(["configure", "unconfigure", "connect", "disconnect"]) | JSON
AP_IDS = st.sampled_from(["net:nic9", "net:nic0x", "slot:1", "net:", ":", "net:nic0 "]) | JSON
REQUESTS = (
    st.fixed_dictionaries(
        {},
        optional={
            "op": OPS,
            "ap_ids": st.lists(AP_IDS, max_size=4) | JSON,
            "verbose": JSON,
            "action": ACTIONS,
            "ap_id": AP_IDS,
            "force": JSON,
            "query_only": JSON,
            "uid": JSON,
        },
    )
    | JSON
)


def encode(request: Any, ascii_only: bool) -> bytes:
    """JSON as a client might send it: maybe not ASCII, maybe not even valid UTF-8."""
    return json.dumps(request, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


HOSTILE = st.sampled_from(
    [
        b"",
        b"\n",
        b"[" * 100_000 + b"\n",
        b'{"op": ' * 50_000 + b"\n",
        b'{"op": "list", "ap_ids": ["' + b"a" * 70_000 + b'"]}\n',
        b'{"op": "list"}',  # no newline: the client closed after it
        b'{"op": "list"}\n{"op": "change_state"}\n',
        b'{"op": "list\xff\xfe"}\n',
        b'{"op": "list", "ap_ids": ["\\ud800"]}\n',
        b"\x00" * 10 + b"\n",
        b'{"op": "list", "verbose": 1e999}\n',
        b'{"op": "list", "ap_ids": [' + b"1," * 20_000 + b"1]}\n",
    ]
)

PAYLOADS = (
    st.builds(
        lambda r, a, nl: encode(r, a) + (b"\n" if nl else b""),
        REQUESTS,
        st.booleans(),
        st.booleans(),
    )
    | st.binary(max_size=200)
    | HOSTILE
)


def changes_the_lab(payload: bytes) -> bool:
    """Whether this is a valid state change of a real ap (left out: it would really act)."""
    try:
        op, fields = validate(json.loads(payload.split(b"\n", 1)[0]))
    except (ValueError, BadRequest, RecursionError):
        return False
    return op == "change_state" and fields["ap_id"] in REAL_APS


@FUZZ
@given(payload=PAYLOADS)
def test_any_bytes_on_the_socket_are_answered_and_change_nothing(
    rcmd_lab: Rig, payload: bytes
) -> None:
    assume(not changes_the_lab(payload))
    progress()
    lab, log, kernel, before = rcmd_lab
    raw = ask_raw(lab.socket_path, payload)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1, (payload[:200], raw[:500])
    answer = json.loads(raw)
    assert isinstance(answer, dict), answer
    assert {"error"} == set(answer) or "aps" in answer or "outcome" in answer, answer
    if "error" in answer:
        assert answer["error"].startswith("bad request: "), answer
    # Nothing here may change anything (a real ap's change is left out above), so the state
    # is the one the module started with: kernel links and addresses, journal and records.
    assert answer.get("outcome") != "done", (payload[:200], answer)
    assert unchanged(lab, kernel, before), (payload[:200], answer)
    assert "aps" in list_answer(lab)  # rcmd still serves root
    text = log.new()
    assert "Traceback" not in text, text[-3000:]
    for line in text.splitlines():  # every complaint is one line
        assert line.startswith("rcmd: "), text[-3000:]
