"""Whether the namespace lab can run here, and what a test does when it cannot.

Shared by rcm's own tests (tests/conftest.py) and by the pytest plugin handler
authors use (:mod:`rcm.pytest_plugin`'s ``rcm_lab`` fixture), so that both
follow one rule: without root or network namespaces a lab test is skipped with
the reason, unless ``RCM_REQUIRE_LAB=1`` (a CI that must not pass by skipping)
turns the skip into a failure.
"""

from __future__ import annotations

import os
import subprocess
import uuid

REQUIRE_ENV = "RCM_REQUIRE_LAB"


def lab_unavailable() -> str | None:
    """Why lab tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    probe = f"rcmprobe-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


_reason: str | None | bool = False  # False: not probed yet


def require_lab() -> None:
    """Skip the calling test (or fail it, under RCM_REQUIRE_LAB=1) when the lab cannot run.

    The probe runs once per process.
    """
    import pytest

    global _reason
    if _reason is False:
        _reason = lab_unavailable()
    if _reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"lab required ({REQUIRE_ENV}=1) but unavailable: {_reason}")
        pytest.skip(str(_reason))
