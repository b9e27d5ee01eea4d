"""rcm's pytest plugin: fixtures for testing an rcm handler from its own package.

Installed with rcm and registered through the ``pytest11`` entry point, so a
handler's test suite needs no ``conftest.py`` and no import to use it.  Name
the handler under test once, by its ``rcm.plugins`` entry-point name, in the
project's pytest configuration::

    [tool.pytest.ini_options]
    rcm_handler = "mount_guard"

or for one module or test with the marker ``@pytest.mark.rcm_handler("name")``
(the marker wins).  The handler is then loaded from the *installed* entry
point, through rcm's ownership check, exactly as rcmd loads it: the test
fails if the package is not installed or its entry point is wrong.

Fixtures (docs/plugins/testing.md has the reference):

- ``rcm_harness``: a :class:`rcm.testing.Harness` (the real coordinator) with
  the handler loaded and a fake ``slot:`` ap class in a sysfs-like tree;
  shaped by the fixtures ``rcm_toml`` (the text of rcm.toml, default empty)
  and ``rcm_slots`` (default ``["s1"]``), which a test overrides as any
  pytest fixture is overridden, or by ``@pytest.mark.parametrize``;
- ``rcm_ap`` (``"slot:s1"``: the first slot's ap), ``rcm_sysfs`` (the tree),
  ``rcm_calls`` (the call log);
- ``make_rcm_harness(**kwargs)``: more harnesses, or one with other
  arguments (a bad rcm.toml, to test that it is refused);
- ``rcm_plugin``: the loaded handler object (override it to give each test a
  fresh one), ``rcm_handler_name``;
- ``rcm_lab(**kwargs)``: a built namespace lab (:class:`rcm_lab.Lab`), whose
  rcmd and cfgadm load every installed handler, yours included; skipped
  without root, failed instead under ``RCM_REQUIRE_LAB=1``.

Fault injection is on the harness: ``fail_hardware``/``heal_hardware`` (the
hardware step fails), ``crash_during(ap, at=failpoint)`` (the engine stops
between two phases as if killed, and restarts), ``surprise_remove``.

This module imports nothing of rcm's engine until a fixture is used: pytest
loads it in every run of every project that has rcm installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rcm_lab import Lab

    from rcm.testing import CallLog, Harness

INI_HANDLER = "rcm_handler"
MARKER = "rcm_handler"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_HANDLER,
        "rcm: the rcm.plugins entry-point name of the handler under test"
        " (the rcm_harness fixture loads it)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name): rcm: test the handler installed as rcm.plugins entry point"
        f" 'name' (overrides the {INI_HANDLER} ini option)",
    )


@pytest.fixture
def rcm_handler_name(request: pytest.FixtureRequest) -> str:
    """The entry-point name of the handler under test: the nearest
    ``rcm_handler`` marker, else the ``rcm_handler`` ini option."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if len(marker.args) != 1 or not isinstance(marker.args[0], str) or marker.kwargs:
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER} takes one argument, the entry-point name:"
                f' @pytest.mark.{MARKER}("mount_guard")'
            )
        return str(marker.args[0])
    name = str(request.config.getini(INI_HANDLER)).strip()
    if not name:
        raise pytest.UsageError(
            f"which handler? set the ini option {INI_HANDLER} (in pyproject.toml:"
            f' [tool.pytest.ini_options] {INI_HANDLER} = "your_entry_point") or mark'
            f' the test @pytest.mark.{MARKER}("your_entry_point")'
        )
    return name


@pytest.fixture
def rcm_plugin(rcm_handler_name: str) -> object:
    """The handler object, loaded from its installed entry point as rcmd loads it.

    It is the entry point's own object (for ``name = "module:plugin"``, the
    module's ``plugin``), so state kept in it outlives a test, as it outlives
    a harness restart; rcm calls ``rcm_configure`` at every start.  Override
    this fixture to give each test a fresh object.
    """
    from rcm.testing import load_entry_point

    return load_entry_point(rcm_handler_name)


@pytest.fixture
def rcm_toml() -> str:
    """The text of rcm.toml for ``rcm_harness`` (override; default empty)."""
    return ""


@pytest.fixture
def rcm_slots() -> list[str] | dict[str, list[str]]:
    """The fake slots for ``rcm_harness``: names, or ``{name: [extra resources]}``."""
    return ["s1"]


@pytest.fixture
def make_rcm_harness(
    tmp_path: Path, rcm_handler_name: str, rcm_plugin: object
) -> Iterator[Callable[..., Harness]]:
    """Factory: ``make_rcm_harness(rcm_toml=..., slots=..., **kwargs)`` starts a
    :class:`rcm.testing.Harness` with the handler under test (plus any
    ``plugins={name: object}`` you add), in a folder of its own; every one is
    closed after the test.  A configuration error raises as rcmd's start would
    (``rcm.errors.ConfigError``)."""
    from rcm.testing import Harness

    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        plugins = {rcm_handler_name: rcm_plugin, **kwargs.pop("plugins", {})}
        root = tmp_path / f"rcm-{len(made)}"
        harness = Harness(root, plugins=plugins, **kwargs)
        made.append(harness)
        return harness

    try:
        yield make
    finally:
        for harness in reversed(made):
            harness.close()


@pytest.fixture
def rcm_harness(
    make_rcm_harness: Callable[..., Harness],
    rcm_toml: str,
    rcm_slots: list[str] | dict[str, list[str]],
) -> Harness:
    """The real coordinator with the handler under test and fake ``slot:`` aps."""
    return make_rcm_harness(rcm_toml=rcm_toml, slots=rcm_slots)


@pytest.fixture
def rcm_ap(rcm_slots: list[str] | dict[str, list[str]]) -> str:
    """The first fake slot's ap id (``slot:s1``), as cfgadm names it."""
    return f"slot:{next(iter(rcm_slots))}"


@pytest.fixture
def rcm_sysfs(rcm_harness: Harness) -> Path:
    """The fake sysfs tree: ``<slot>/present`` (1 or 0) and ``<slot>/resources``."""
    return rcm_harness.sysfs


@pytest.fixture
def rcm_calls(rcm_harness: Harness) -> CallLog:
    """Every hook call and hardware step of ``rcm_harness``, in order."""
    return rcm_harness.calls


@pytest.fixture
def rcm_lab() -> Iterator[Callable[..., Lab]]:
    """Factory: ``rcm_lab(**kwargs)`` builds a namespace lab (``rcm_lab.Lab``:
    host, switch, client and holding namespaces; nic0 and nic1 in IPMP group g
    unless ``interfaces=`` says otherwise; ``rcm_settings=`` merged into
    rcm.toml, your ``[plugins.<name>]`` section for instance), closed after the
    test, pass or fail.  Start rcmd with ``lab.start_rcmd()`` and run
    ``lab.cfgadm(...)``: both load every installed handler, yours included.

    Needs root and network namespaces: skipped without them, unless the
    environment sets ``RCM_REQUIRE_LAB=1``, which makes it fail instead.
    """
    from rcm_lab.availability import require_lab

    require_lab()
    from rcm_lab import Lab

    made: list[Lab] = []

    def make(**kwargs: Any) -> Lab:
        lab = Lab(**kwargs)
        made.append(lab)
        lab.build()
        return lab

    try:
        yield make
    finally:
        for lab in reversed(made):
            lab.close()
