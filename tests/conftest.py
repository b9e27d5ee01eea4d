"""Shared fixtures.  Lab tests use the real kernel in throwaway namespaces.

A test that needs root skips with a reason when not root, but fails when
RCM_REQUIRE_LAB=1 (CI sets it), so CI can never pass by skipping the lab.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from rcm_lab.availability import require_lab

if TYPE_CHECKING:
    from rcm_lab import Lab


@pytest.fixture
def lab() -> None:
    require_lab()


@pytest.fixture
def netns(lab: None) -> Iterator[callable]:
    """Factory: ``name = netns("tag")`` makes a uniquely named namespace that
    is deleted after the test, pass or fail."""
    made: list[str] = []

    def make(tag: str = "t") -> str:
        name = f"rcmt-{tag}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        return name

    try:
        yield make
    finally:
        for name in reversed(made):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@pytest.fixture
def built(lab: None) -> Iterator[Lab]:
    """A built lab (closed afterwards, pass or fail); rcmd is not started."""
    from rcm_lab import Lab

    made = Lab()
    try:
        made.build()
        yield made
    finally:
        made.close()
