"""rcm_lab: a throwaway network-namespace lab for rcm's acceptance tests and demo.

It is test harness, not product: it shells out to ``ip`` freely and needs root.  Import it as
``rcm_lab`` (pyproject maps the ``lab/`` folder to that name).
"""

from __future__ import annotations

from .conversation import Conversation
from .topology import (
    CLIENT_V4,
    CLIENT_V6,
    DEFAULT_GROUPS,
    DEFAULT_INTERFACES,
    Lab,
    LabError,
    RcmdError,
    raise_on_signals,
    wait_until,
)

__all__ = [
    "CLIENT_V4",
    "CLIENT_V6",
    "DEFAULT_GROUPS",
    "DEFAULT_INTERFACES",
    "Conversation",
    "Lab",
    "LabError",
    "RcmdError",
    "raise_on_signals",
    "wait_until",
]
