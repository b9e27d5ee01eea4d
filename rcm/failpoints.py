"""Failpoints: kill the process at a named point, to test crash recovery.

``RCM_FAILPOINT=offline.done`` makes rcm SIGKILL itself when it reaches the
point named ``offline.done`` (after every handler has released, before the
hardware step).  The journal must then let the next start complete or roll
back the operation.  The points are listed in docs/architecture.md.

``RCM_FAILPOINT=<name>:sleep=<seconds>`` sleeps there instead, once per
process: a handler that runs past its timeout at that point (then its call
is fenced, and the coordinator must stay usable and finish the job later).

Unset, this costs one dictionary lookup per point.
"""

from __future__ import annotations

import os
import signal
import time

POINTS = (
    "query.done",  # every handler answered; nothing released yet
    "offline.step",  # an offline step is journaled as started; the handler not yet called
    "offline.done",  # every handler released; hardware step not started
    "hardware.done",  # the hardware step happened; remove not yet sent
    "remove.done",  # remove sent; operation not yet marked done
    "attach.hardware.done",  # attach: hardware step done; online not yet sent
    # Inside the IPMP handler (plugins/ipmp/handler.py), whenever it moves
    # addresses or removes copies: every address is added (and announced) on
    # its new NIC, nothing yet deleted from the old one, so two NICs hold a
    # copy of each.  Reached again by the recovery of such a move (deleting
    # the copies), so arming it for a restart kills rcmd during recovery.
    "ipmp.move.added",
)

_slept: set[str] = set()


def failpoint(name: str) -> None:
    spec = os.environ.get("RCM_FAILPOINT")
    if spec is None:
        return
    point, _, action = spec.partition(":")
    if point != name:
        return
    if action.startswith("sleep="):
        if name not in _slept:
            _slept.add(name)
            time.sleep(float(action.removeprefix("sleep=")))
        return
    os.kill(os.getpid(), signal.SIGKILL)
