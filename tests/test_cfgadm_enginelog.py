"""Where the in-process engine's log goes (cfgadm without rcmd): the system log,
never cfgadm's stderr.  The lab test ``test_output_is_the_same_with_and_without_rcmd``
checks the whole command; these check the handler against a real Unix datagram
socket standing in for /dev/log."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfgadm.enginelog import engine_log_handler, route_engine_log


@pytest.fixture
def syslog(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield path, sock
    finally:
        sock.close()


def _logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger("rcm.handler.enginelog-test")
    log.propagate = False
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING)
    return log


def test_a_handler_line_goes_to_the_system_log_tagged_cfgadm(syslog, capfd) -> None:
    path, sock = syslog
    handler = engine_log_handler(path)
    try:
        _logger(handler).warning("moving addresses from nic0 to nic1: %s", "192.0.2.10/24")
        line = sock.recv(4096).decode()
    finally:
        handler.close()
    # <facility daemon (3) * 8 + warning (4)>, then the tag, then rcmd's layout
    assert line.startswith("<28>cfgadm[")
    assert line.rstrip("\0").endswith(
        "]: WARNING rcm.handler.enginelog-test: moving addresses from nic0 to nic1: 192.0.2.10/24"
    )
    assert capfd.readouterr() == ("", "")


def test_without_a_system_log_lines_are_dropped_not_printed(tmp_path: Path, capfd) -> None:
    handler = engine_log_handler(str(tmp_path / "no-such-socket"))
    assert isinstance(handler, logging.NullHandler)
    _logger(handler).warning("moving addresses from nic0 to nic1")
    assert capfd.readouterr() == ("", "")


def test_a_system_log_that_goes_away_prints_nothing(syslog, capfd) -> None:
    path, sock = syslog
    handler = engine_log_handler(path)
    try:
        sock.close()
        Path(path).unlink()
        _logger(handler).error("rollback incomplete")
    finally:
        handler.close()
    assert capfd.readouterr() == ("", "")


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger as cfgadm's process has it (no handlers), restored
    after.  Entered in the test's body: pytest adds its capture handlers to
    the root logger after the fixtures are set up."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        yield root
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_route_sets_the_level_from_the_environment() -> None:
    with bare_root() as root:
        route_engine_log({"RCM_LOG_LEVEL": "error"})
        assert root.level == logging.ERROR and len(root.handlers) == 1


def test_route_defaults_to_warning_for_a_bad_level() -> None:
    with bare_root() as root:
        root.setLevel(logging.DEBUG)
        route_engine_log({"RCM_LOG_LEVEL": "loud"})
        assert root.level == logging.WARNING and len(root.handlers) == 1


def test_route_keeps_logging_a_program_already_set_up() -> None:
    with bare_root() as root:
        mine = logging.NullHandler()
        root.addHandler(mine)
        root.setLevel(logging.DEBUG)
        route_engine_log({})
        assert root.handlers == [mine] and root.level == logging.DEBUG
