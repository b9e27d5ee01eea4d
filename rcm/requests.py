"""The control socket's requests, checked field by field before anything acts.

One small schema per request kind: each field's type, whether it must be
given, and its default.  A field of the wrong type is a bad request naming
the field (``"force": "false"`` is not false, and never true), so that what
rcmd does is what the client wrote.  Strings must be valid Unicode without
control characters (a lone surrogate from ``"\\ud800"`` cannot be printed or
logged), and not longer than :data:`MAX_STRING`.  Fields a kind does not
define are ignored, so that a newer cfgadm can still talk to this rcmd; none
of them can change what is done, and none says who the client is (the
kernel does: SO_PEERCRED).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_STRING = 1024  # an ap_id is far shorter; this bounds what an error may echo


class BadRequest(ValueError):
    """A request that is not what the protocol says; the message names the field."""


@dataclass(frozen=True)
class Field:
    kind: type  # bool, str or list (of str)
    required: bool = False
    default: Any = None


SCHEMAS: dict[str, dict[str, Field]] = {
    "list": {
        "ap_ids": Field(list, default=()),
        "verbose": Field(bool, default=False),
        "dynamic": Field(bool, default=False),
    },
    "change_state": {
        "action": Field(str, required=True),
        "ap_id": Field(str, required=True),
        "force": Field(bool, default=False),
        "query_only": Field(bool, default=False),
        # cfgadm -o: the ap class's options, as typed ("netns=ctr1"); the
        # class checks them (an unknown one is refused, never ignored).
        "options": Field(str, default=""),
        # the admin answered yes to the ap class's question (cfgadm -y, or at the prompt)
        "confirmed": Field(bool, default=False),
    },
    # cfgadm -t: the ap class's test function, if it has one.
    "test": {
        "ap_id": Field(str, required=True),
        "options": Field(str, default=""),
    },
    "function": {
        "ap_id": Field(str, required=True),
        "function": Field(str, required=True),
    },
    "help": {
        "ap_types": Field(list, default=()),
    },
    # Read-only, for any user: every handler's answer to a topic (rcm_report).
    "report": {
        "topic": Field(str, required=True),
    },
    # Root only: take a resource out of service in place, or bring it back
    # (action "offline" or "online"; no hardware step).
    "resource_state": {
        "action": Field(str, required=True),
        "resource": Field(str, required=True),
    },
    # Root only: re-read the configuration (as SIGHUP does).
    "reload": {},
}


def _check_string(name: str, value: str) -> None:
    if len(value) > MAX_STRING:
        raise BadRequest(f"{name} is longer than {MAX_STRING} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{name} is not valid Unicode (a lone surrogate)") from None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise BadRequest(f"{name} contains a control character")


def _type_name(kind: type) -> str:
    return {bool: "true or false", str: "a string", list: "a list of strings"}[kind]


def validate(request: object) -> tuple[str, dict[str, Any]]:
    """``(op, fields)`` with every field of the op's schema present and of its
    type, or :class:`BadRequest` naming the first field at fault."""
    if not isinstance(request, dict):
        raise BadRequest("request must be a JSON object")
    op = request.get("op")
    if not isinstance(op, str):
        raise BadRequest("op must be a string" if "op" in request else "op is missing")
    _check_string("op", op)
    schema = SCHEMAS.get(op)
    if schema is None:
        raise BadRequest(f"op: unknown op {op!r} (one of: {', '.join(SCHEMAS)})")
    fields: dict[str, Any] = {}
    for name, field in schema.items():
        if name not in request:
            if field.required:
                raise BadRequest(f"{name} is missing")
            fields[name] = field.default
            continue
        value = request[name]
        ok = isinstance(value, field.kind)
        if field.kind is list and ok:
            ok = all(isinstance(item, str) for item in value)
        if not ok:
            raise BadRequest(f"{name} must be {_type_name(field.kind)}")
        if field.kind is str:
            _check_string(name, value)
        elif field.kind is list:
            for i, item in enumerate(value):
                _check_string(f"{name}[{i}]", item)
        fields[name] = value
    return op, fields
