"""Failpoints: kill the process at a named point, to test crash recovery.

``RCM_FAILPOINT=offline.done`` makes rcm SIGKILL itself when it reaches the
point named ``offline.done`` (after every handler has released, before the
hardware step).  The journal must then let the next start complete or roll
back the operation.  The points are listed in docs/architecture.md.  Unset,
this costs one dictionary lookup per point.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "query.done",  # every handler answered; nothing released yet
    "offline.step",  # an offline step is journaled as started; the handler not yet called
    "offline.done",  # every handler released; hardware step not started
    "hardware.done",  # the hardware step happened; remove not yet sent
    "remove.done",  # remove sent; operation not yet marked done
    "attach.hardware.done",  # attach: hardware step done; online not yet sent
)


def failpoint(name: str) -> None:
    if os.environ.get("RCM_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
