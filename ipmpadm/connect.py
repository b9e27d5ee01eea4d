"""Reaching rcmd, or saying in one line why not (the commands run no engine
of their own: IPMP state lives in rcmd, as Solaris' lives in in.mpathd)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from rcm.client import RemoteService, _connect
from rcm.paths import socket_path


class NoDaemon(Exception):
    """rcmd does not answer on its socket."""


def service(prog: str, env: Mapping[str, str] | None = None) -> RemoteService:
    """A connection to rcmd, or NoDaemon with the line to print."""
    path = socket_path(env)
    sock = _connect(path)
    if sock is None:
        raise NoDaemon(f"{prog}: cannot contact rcmd: it is not running ({path} does not answer)")
    return RemoteService(path, sock)


def fail(message: str, status: int = 1) -> int:
    print(message, file=sys.stderr)
    return status
