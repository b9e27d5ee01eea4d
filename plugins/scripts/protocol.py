"""The script protocol (rcmscript(4)): commands, answers, exit codes.

Pure parsing, no processes: what a script may print for each command, and
what its answer means.  A script prints ``name=value`` lines on stdout; any
line that is not one of the names its command may answer (blank lines
aside) is a protocol error, and so is a ``scriptinfo`` answer without
``rcm_script_version=1``: the handler then disables the script (see
:mod:`rcm_scripts.plugin`).

Solaris' names and exit codes are kept as they are, so a script written for
rcmscript(4) needs only Linux resource names; one name is rcm's own:
``rcm_veto_level`` (``warning``, ``data`` or ``system``), which a
``queryremove`` that refuses (exit 3) may print to say how hard it refuses.

Plain classes, not dataclasses: this module is imported by every engine start
(cfgadm without rcmd included), where each dataclass costs milliseconds to build
(see rcm/model.py).
"""

from __future__ import annotations

import logging
import re

from rcm.model import Impact

VERSION = "1"
"""The only protocol version (``rcm_script_version=1``)."""

SCRIPTINFO = "scriptinfo"
REGISTER = "register"
RESOURCEINFO = "resourceinfo"
QUERYREMOVE = "queryremove"
PREREMOVE = "preremove"
POSTREMOVE = "postremove"
UNDOREMOVE = "undoremove"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNSUPPORTED = 2
"""The script does not implement the command: no opinion, nothing done."""
EXIT_REFUSE = 3
"""The script refuses: a veto in ``queryremove``, a failure elsewhere."""

LOG_LEVELS = {
    "rcm_log_err": logging.ERROR,
    "rcm_log_warn": logging.WARNING,
    "rcm_log_info": logging.INFO,
    "rcm_log_debug": logging.DEBUG,
}
"""``rcm_log_*`` lines are logged under the script's name at these levels."""

FAILURE_REASON = "rcm_failure_reason"
VETO_LEVEL = "rcm_veto_level"

ANSWERS: dict[str, frozenset[str]] = {
    SCRIPTINFO: frozenset({"rcm_script_version", "rcm_script_func_info", "rcm_cmd_timeout"}),
    REGISTER: frozenset({"rcm_resource_name"}),
    RESOURCEINFO: frozenset({"rcm_resource_usage_info"}),
    QUERYREMOVE: frozenset({VETO_LEVEL}),
    PREREMOVE: frozenset(),
    POSTREMOVE: frozenset(),
    UNDOREMOVE: frozenset(),
}
"""The names each command may answer, besides ``rcm_failure_reason`` and
the ``rcm_log_*`` lines, which every command may print."""

COMMON = frozenset({FAILURE_REASON, *LOG_LEVELS})
REPEATABLE = frozenset({"rcm_resource_name", *LOG_LEVELS})
"""Names that may appear more than once; any other name is one value."""

_LINE = re.compile(r"^(rcm_[a-z_]+)=(.*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ProtocolError(Exception):
    """The script broke the protocol; the message says how, in one line."""


class Answer:
    """What a script printed on stdout for one command, parsed."""

    __slots__ = ("command", "values", "logs")

    def __init__(self, command: str) -> None:
        self.command = command
        self.values: dict[str, list[str]] = {}
        self.logs: list[tuple[int, str]] = []
        """(logging level, text) of each ``rcm_log_*`` line, in order."""

    def get(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[str]:
        return list(self.values.get(name, []))


def parse(command: str, text: str) -> Answer:
    """Parse ``text`` (a script's stdout) as the answer to ``command``.

    Raises :class:`ProtocolError` for a line that is not ``name=value`` with
    a name ``command`` may answer, for a single-valued name given twice, and
    for a value holding control characters."""
    allowed = ANSWERS[command] | COMMON
    answer = Answer(command)
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ProtocolError(f"{command}: line {number} is not name=value: {_show(line)}")
        name, value = match.groups()
        if name not in allowed:
            raise ProtocolError(f"{command}: line {number}: {name} is not an answer to {command}")
        if _CONTROL.search(value):
            raise ProtocolError(f"{command}: line {number}: {name} holds a control character")
        if name in LOG_LEVELS:
            answer.logs.append((LOG_LEVELS[name], value))
            continue
        if name in answer.values and name not in REPEATABLE:
            raise ProtocolError(f"{command}: line {number}: {name} given twice")
        answer.values.setdefault(name, []).append(value)
    return answer


def _show(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")


class ScriptInfo:
    """A script's ``scriptinfo`` answer."""

    __slots__ = ("func_info", "timeout")

    def __init__(self, func_info: str, timeout: int | None) -> None:
        self.func_info = func_info
        self.timeout = timeout
        """``rcm_cmd_timeout`` in seconds; None when the script named none; 0
        means no timeout of its own (the handler's call still bounds it)."""


def script_info(answer: Answer) -> ScriptInfo:
    """Check a ``scriptinfo`` answer: version 1, a description, a timeout if any."""
    version = answer.get("rcm_script_version")
    if version is None:
        raise ProtocolError("scriptinfo: no rcm_script_version (expected rcm_script_version=1)")
    if version.strip() != VERSION:
        raise ProtocolError(
            f"scriptinfo: rcm_script_version={version}: only version {VERSION} is known"
        )
    func_info = answer.get("rcm_script_func_info")
    if func_info is None or not func_info.strip():
        raise ProtocolError("scriptinfo: no rcm_script_func_info (a one-line description)")
    raw = answer.get("rcm_cmd_timeout")
    timeout = None
    if raw is not None:
        if not raw.strip().isdigit() or len(raw.strip()) > 6:
            raise ProtocolError(
                f"scriptinfo: rcm_cmd_timeout={raw}: must be a whole number of seconds"
                " (0 to 999999)"
            )
        timeout = int(raw.strip())
    return ScriptInfo(func_info.strip(), timeout)


def resource_names(answer: Answer) -> list[str]:
    """The names of a ``register`` answer, each once, in order."""
    names: list[str] = []
    for value in answer.all("rcm_resource_name"):
        name = value.strip()
        if not name:
            raise ProtocolError("register: an empty rcm_resource_name")
        if name not in names:
            names.append(name)
    return names


def veto_impact(answer: Answer) -> Impact:
    """How hard a ``queryremove`` that exited 3 refuses: ``rcm_veto_level``,
    ``data`` by default (``cfgadm -f`` overrides it)."""
    raw = answer.get(VETO_LEVEL)
    if raw is None:
        return Impact.DATA
    try:
        return Impact(raw.strip())
    except ValueError:
        raise ProtocolError(
            f"queryremove: {VETO_LEVEL}={raw}: must be warning, data or system"
        ) from None
