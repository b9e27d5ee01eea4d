"""The plugin author's side of rcm: discovery, the safety rule, hook checks,
and the test harness (rcm.testing) with the example plugin."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pluggy
import pytest

from rcm import hookimpl
from rcm.errors import ConfigError, OperationFenced, RcmError
from rcm.model import Event, Impact, Outcome, Receptacle, Veto
from rcm.plugins import PluginRefused, RcmPluginManager, UnsafePlugin, make_plugin_manager
from rcm.testing import HARDWARE, HOOK_NAMES, Harness, PluginMistake, check_plugin

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "mount_guard"
DEV = "/devices/s1"

PLUGIN_SOURCE = """\
from rcm import hookimpl


class Plugin:
    @hookimpl
    def rcm_register(self, ctx):
        return ["/devices/thirdparty"]


plugin = Plugin()
"""


# -- a third-party distribution on sys.path ------------------------------------
@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path, as site-packages is; modules imported from it are
    forgotten afterwards so that every test imports its own."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))  # also invalidates importlib's caches
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("tp_"):
            del sys.modules[name]


def install(
    site: Path,
    entry: str = "thirdparty",
    package: bool = False,
    source: str = PLUGIN_SOURCE,
) -> tuple[str, Path]:
    """Write a minimal installed distribution: ``*.dist-info`` with METADATA
    and entry_points.txt, and the module (or package) it names.  Returns the
    module name and the file its entry point executes."""
    module = f"tp_{uuid.uuid4().hex[:8]}"
    dist = site / f"{module}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[rcm.plugins]\n{entry} = {module}:plugin\n")
    if package:
        (site / module).mkdir()
        path = site / module / "__init__.py"
    else:
        path = site / f"{module}.py"
    path.write_text(source)
    importlib.invalidate_caches()
    return module, path


def test_a_third_party_plugin_is_found_like_the_builtins(site: Path) -> None:
    module, _ = install(site)
    pm = make_plugin_manager()
    assert {"thirdparty", "net", "ipmp"} <= {name for name, _ in pm.list_name_plugin()}
    assert pm.get_plugin("thirdparty") is sys.modules[module].plugin
    impls = [i.plugin_name for i in pm.hook.rcm_register.get_hookimpls()]
    assert "thirdparty" in impls


def test_a_plugin_named_like_a_builtin_is_refused(site: Path) -> None:
    """A third-party 'ipmp' must not silently replace (or be dropped for) the
    built-in one: which handler vets a detach is not left to install order."""
    install(site, entry="ipmp")
    with pytest.raises(RcmError, match="two plugins are named 'ipmp'"):
        make_plugin_manager()


@pytest.mark.parametrize("package", [False, True], ids=["module", "package"])
def test_a_safe_plugin_loads(site: Path, package: bool) -> None:
    install(site, package=package)
    assert make_plugin_manager().has_plugin("thirdparty")


@pytest.mark.parametrize(
    ("package", "target", "mode"),
    [
        (False, "file", 0o666),
        (False, "file", 0o664),
        (True, "file", 0o666),
        (True, "dir", 0o777),
        (True, "dir", 0o775),
    ],
    ids=["module-666", "module-664", "init-666", "package-777", "package-775"],
)
def test_a_plugin_others_can_write_is_refused(
    site: Path, package: bool, target: str, mode: int
) -> None:
    _, path = install(site, package=package)
    bad = path if target == "file" else path.parent
    os.chmod(bad, mode)
    with pytest.raises(UnsafePlugin) as e:
        make_plugin_manager()
    assert "'thirdparty'" in str(e.value)
    assert str(bad) in str(e.value)
    assert "writable by group or others" in str(e.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
@pytest.mark.parametrize("target", ["file", "dir"])
def test_a_plugin_owned_by_another_user_is_refused(site: Path, target: str) -> None:
    _, path = install(site, package=True)
    bad = path if target == "file" else path.parent
    os.chown(bad, 65534, -1)
    with pytest.raises(UnsafePlugin, match=r"'thirdparty'.*owned by uid 65534") as e:
        make_plugin_manager()
    assert str(bad) in str(e.value)


def test_a_single_module_in_a_world_writable_folder_is_refused(site: Path) -> None:
    install(site)
    os.chmod(site, 0o777)
    with pytest.raises(UnsafePlugin):
        make_plugin_manager()


def test_a_world_writable_module_imported_by_the_plugin_is_refused(site: Path) -> None:
    module, init = install(site, package=True, source="from .impl import plugin\n")
    impl = init.parent / "impl.py"
    impl.write_text(PLUGIN_SOURCE)
    os.chmod(impl, 0o666)
    with pytest.raises(UnsafePlugin):
        make_plugin_manager()


# -- hook checks ---------------------------------------------------------------
class Misspelled:
    @hookimpl
    def rcm_request_ofline(self, ctx, resource, query, force):  # sic
        return "never asked"


class Unmarked:
    def rcm_request_offline(self, ctx, resource, query, force):
        return "never asked either"


class WrongArgument:
    @hookimpl
    def rcm_request_offline(self, ctx, res):
        return None


def test_a_misspelled_hook_is_refused_by_check_pending() -> None:
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'rcm_request_ofline'"):
        make_plugin_manager(load_entry_points=False, extra=[("typo", Misspelled())])


def test_a_misspelled_hook_in_an_installed_plugin_stops_loading(site: Path) -> None:
    install(site, source=PLUGIN_SOURCE.replace("rcm_register", "rcm_regster"))
    with pytest.raises(pluggy.PluginValidationError, match="rcm_regster"):
        make_plugin_manager()


def test_an_argument_the_hook_does_not_have_is_refused() -> None:
    with pytest.raises(pluggy.PluginValidationError, match="res"):
        make_plugin_manager(load_entry_points=False, extra=[("wrong", WrongArgument())])


def test_a_pluggy_error_reaches_the_admin_as_one_line() -> None:
    with pytest.raises(RcmError) as e:
        make_plugin_manager(load_entry_points=False, extra=[("typo", Misspelled())])
    assert "\n" not in str(e.value) and "rcm_request_ofline" in str(e.value)


class OldStyleWrapper:
    @hookimpl(hookwrapper=True)
    def rcm_request_offline(self, ctx, resource, query, force):
        yield


class NewStyleWrapper:
    @hookimpl(wrapper=True, specname="rcm_notify_remove")
    def watch_removals(self, ctx, resource, surprise):
        return (yield)


@pytest.mark.parametrize(
    ("plugin", "hook", "option"),
    [
        (OldStyleWrapper(), "rcm_request_offline", "hookwrapper"),
        (NewStyleWrapper(), "rcm_notify_remove", "wrapper"),
    ],
    ids=["hookwrapper", "wrapper"],
)
def test_a_hook_wrapper_is_refused_at_registration(plugin: object, hook: str, option: str) -> None:
    """The coordinator calls each handler on its own thread: there is no
    chain of calls for a wrapper to wrap, so it would be silently ignored."""
    with pytest.raises(PluginRefused) as e:
        make_plugin_manager(load_entry_points=False, extra=[("wrapping", plugin)])
    message = str(e.value)
    assert message.startswith(f"plugin 'wrapping': {hook} is marked {option}=True")
    assert "\n" not in message


def test_an_installed_hook_wrapper_stops_loading(site: Path) -> None:
    source = PLUGIN_SOURCE.replace("@hookimpl", "@hookimpl(hookwrapper=True)").replace(
        'return ["/devices/thirdparty"]', "yield"
    )
    install(site, source=source)
    with pytest.raises(PluginRefused, match="plugin 'thirdparty': rcm_register is marked"):
        make_plugin_manager()


@pytest.mark.parametrize("option", ["historic", "firstresult"])
def test_a_spec_whose_results_pluggy_would_change_is_refused(option: str) -> None:
    class Specs:
        @pluggy.HookspecMarker("rcm")(**{option: True})
        def rcm_register(self, ctx):
            """A spec marked as the coordinator cannot honour."""

    with pytest.raises(PluginRefused, match=f"rcm_register is marked {option}=True"):
        RcmPluginManager().add_hookspecs(Specs)


def test_the_hook_specs_are_all_plain() -> None:
    pm = make_plugin_manager(load_entry_points=False)
    for name in HOOK_NAMES:
        opts = getattr(pm.hook, name).spec.opts
        assert not (opts["historic"] or opts["firstresult"]), name


class FirstByAnotherName:
    @hookimpl(tryfirst=True, specname="rcm_register")
    def interests(self):
        return [DEV]

    @hookimpl(tryfirst=True, specname="rcm_request_offline")
    def may_it_go(self, resource, query):
        return "z was asked first" if query else None


def test_tryfirst_and_specname_are_honoured_in_the_harness(tmp_path: Path) -> None:
    with Harness(tmp_path, {"a": Consumer([DEV], "a"), "z": FirstByAnotherName()}) as h:
        result = h.detach("slot:s1")
        assert [v.reason for v in result.vetoes] == ["z was asked first", "a"]
        assert h.calls.steps() == [("z", "query", DEV), ("a", "query", DEV)]


def test_the_harness_says_what_was_meant(tmp_path: Path) -> None:
    with pytest.raises(PluginMistake, match="did you mean rcm_request_offline"):
        Harness(tmp_path, plugins={"typo": Misspelled()})
    # pluggy would silently ignore this one: rcm would never ask the handler
    with pytest.raises(PluginMistake, match="not marked @rcm.hookimpl"):
        check_plugin("unmarked", Unmarked())


# -- the harness with the example plugin ---------------------------------------
@pytest.fixture
def mount_guard(monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    module = importlib.import_module("mount_guard")
    return module.MountGuard


GUARD_TOML = '[plugins.mount_guard]\nprotect = ["/devices/s1"]\n'


def test_example_veto_is_shown_and_blocks(tmp_path: Path, mount_guard: type) -> None:
    with Harness(tmp_path, {"mount_guard": mount_guard()}, ["s1"], rcm_toml=GUARD_TOML) as h:
        assert [u.info for u in h.listing().usage["slot:s1"]] == [
            "/devices/s1 holds a protected mount"
        ]
        query = h.query("slot:s1")
        assert query.outcome is Outcome.VETOED
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.VETOED and result.exit_status == 1
        assert [(v.handler, v.impact) for v in result.vetoes] == [("mount_guard", Impact.DATA)]
        assert h.present("s1")
        assert ("mount_guard", "offline", DEV) not in h.calls.steps()


def test_example_force_passes_a_data_veto(tmp_path: Path, mount_guard: type) -> None:
    with Harness(tmp_path, {"mount_guard": mount_guard()}, ["s1"], rcm_toml=GUARD_TOML) as h:
        result = h.detach("slot:s1", force=True)
        assert result.outcome is Outcome.DONE
        assert [v.reason for v in result.forced_past] == [f"{DEV} holds a protected mount"]
        assert not h.present("s1")
        assert h.listing().aps[0].receptacle is Receptacle.DISCONNECTED
        assert h.attach("slot:s1").outcome is Outcome.DONE and h.present("s1")


def test_example_failed_hardware_step_brings_it_online(tmp_path: Path, mount_guard: type) -> None:
    with Harness(tmp_path, {"mount_guard": mount_guard()}, ["s1"], rcm_toml=GUARD_TOML) as h:
        h.fail_hardware("disconnect")
        result = h.detach("slot:s1", force=True)
        assert result.outcome is Outcome.FAILED and result.rolled_back
        assert h.calls.steps("mount_guard", HARDWARE) == [
            ("mount_guard", "query", DEV),
            ("mount_guard", "offline", DEV),
            (HARDWARE, "disconnect", "slot:s1"),
            ("mount_guard", "online", DEV),
        ]
        assert h.present("s1")
        assert h.store("mount_guard").items() == []
        h.heal_hardware()
        assert h.detach("slot:s1", force=True).outcome is Outcome.DONE


# mount_guard's own tests, run as a third party runs them: tests/test_pytest_plugin.py


# -- the harness itself -----------------------------------------------------------
class Consumer:
    """Uses whatever it is given; can veto, raise or sleep in offline."""

    def __init__(
        self,
        resources: list[str],
        veto: Veto | str | None = None,
        sleep: float = 0.0,
        dependents: dict[str, str] | None = None,
    ) -> None:
        self.resources = resources
        self.veto = veto
        self.sleep = sleep
        self.dependents = dependents or {}
        self.late: Exception | None = None

    @hookimpl
    def rcm_register(self, ctx):
        return self.resources

    @hookimpl
    def rcm_request_offline(self, ctx, resource, query, force):
        if resource in self.dependents:
            ctx.request_offline(self.dependents[resource], query=query, force=force)
        if query:
            return self.veto
        if self.sleep:
            time.sleep(self.sleep)
            try:
                ctx.store.set("late", True)
            except OperationFenced as e:
                self.late = e
        ctx.store.set(f"off:{resource}", True)
        return None

    @hookimpl
    def rcm_notify_online(self, ctx, resource):
        ctx.store.delete(f"off:{resource}")

    @hookimpl
    def rcm_notify_remove(self, ctx, resource, surprise):
        ctx.store.delete(f"off:{resource}")


def test_extra_resources_and_glob_registration(tmp_path: Path) -> None:
    with Harness(
        tmp_path,
        {"dev": Consumer([DEV]), "mnt": Consumer(["mount/*"])},
        slots={"s1": ["mount/srv"], "s2": []},
    ) as h:
        assert h.listing(verbose=False).aps[0].resources == (DEV, "mount/srv")
        assert h.handlers_for("mount/srv") == ["mnt"]
        assert h.detach("slot:s1").outcome is Outcome.DONE
        assert [(c, s) for c, s, _ in h.calls.steps()] == [
            ("dev", "query"),
            ("mnt", "query"),
            ("dev", "offline"),
            ("mnt", "offline"),
            (HARDWARE, "disconnect"),
            ("dev", "remove"),
            ("mnt", "remove"),
        ]


def test_surprise_removal_and_return(tmp_path: Path) -> None:
    with Harness(tmp_path, {"dev": Consumer([DEV])}, ["s1"]) as h:
        h.surprise_remove("slot:s1")
        assert not h.present("s1")
        assert h.calls.steps("dev") == [("dev", "remove!", DEV)]
        h.hot_add("slot:s1")
        assert h.present("s1")
        assert h.calls.steps("dev")[-1] == ("dev", "online", DEV)
        # the slot plugin turned the harness's events into resource events
        assert [c.target for c in h.calls.of(hook="rcm_notify_event")] == [
            "slot:remove",
            "slot:add",
        ]


def test_events_reach_every_handler(tmp_path: Path) -> None:
    seen: list[Event] = []

    class Listener:
        @hookimpl
        def rcm_notify_event(self, event):
            seen.append(event)

    with Harness(tmp_path, {"l": Listener()}) as h:
        h.event(Event("udev", "change", {"DEVPATH": DEV}))
        assert seen == [Event("udev", "change", {"DEVPATH": DEV})]


def test_timeouts_and_fencing_are_the_real_ones(tmp_path: Path) -> None:
    slow = Consumer([DEV], sleep=0.3)  # ends while rollback waits (up to one more timeout)
    with Harness(tmp_path, {"slow": slow}, ["s1"], timeout=0.2) as h:
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.FAILED and result.rolled_back
        assert "timed out after 0.2 s" in result.message
        offline = h.calls.of(handler="slow", hook="rcm_request_offline")[-1]
        assert offline.error and "timed out" in offline.error
        assert isinstance(slow.late, OperationFenced)
        assert h.store("slow").get("late") is None
        assert h.calls.steps("slow")[-1] == ("slow", "online", DEV)


def test_dependents_through_ctx(tmp_path: Path) -> None:
    with Harness(
        tmp_path,
        {"dev": Consumer([DEV], dependents={DEV: "net/x"}), "ip": Consumer(["net/*"], "in use")},
    ) as h:
        result = h.detach("slot:s1")
        assert [(v.handler, v.resource) for v in result.vetoes] == [("ip", "net/x")]


def test_configuration_is_read_and_checked_as_rcmd_does(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="handlers.timeout"):
        Harness(tmp_path / "a", rcm_toml="[handlers]\ntimeout = -1\n", timeout=None)
    with Harness(tmp_path / "b", rcm_toml="[handlers]\ntimeout = 7\n", timeout=None) as h:
        assert h.coordinator.timeout == 7


def test_restart_recovers_and_keeps_the_store(tmp_path: Path) -> None:
    with Harness(tmp_path, {"dev": Consumer([DEV])}, ["s1", "s2"]) as h:
        assert h.detach("slot:s1").outcome is Outcome.DONE
        h.store("dev").set("keep", 1)  # a test may seed a handler's records
        assert h.restart({"dev": Consumer([DEV])}) == []
        assert h.store("dev").get("keep") == 1
        assert not h.present("s1")
        assert h.attach("slot:s1").outcome is Outcome.DONE


def test_a_veto_with_impact_given_as_a_string_still_blocks(tmp_path: Path) -> None:
    with Harness(tmp_path, {"a": Consumer([DEV], veto=Veto("root fs", "system"))}) as h:
        assert h.detach("slot:s1", force=True).outcome is Outcome.VETOED


# -- the contract and its page -------------------------------------------------------
def _hook_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "hook_reference", REPO / "scripts" / "hook_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS_PAGE = REPO / "docs" / "hooks.md"
NOT_HOOKS = {
    "rcm_net": "the network plugin's package",
    "rcm_ipmp": "the IPMP plugin's package",
    "rcm_toml": "Paths.rcm_toml",
    "rcm_request_ofline": "the misspelling the page shows being refused",
}


def test_the_hook_reference_is_rendered_from_the_hookspecs() -> None:
    """docs/hooks.md's hook reference is the docstrings of rcm/hookspecs.py,
    as `python scripts/hook_reference.py` writes it."""
    from rcm import hookspecs

    reference = _hook_reference()
    page = HOOKS_PAGE.read_text()
    assert reference.current_section(page) == reference.render(hookspecs), (
        "docs/hooks.md is stale: run python scripts/hook_reference.py"
    )


def test_every_hook_states_when_arguments_returns_raising_and_order() -> None:
    from rcm import hookspecs

    for name, fn in _hook_reference().hooks(hookspecs):
        doc = inspect.cleandoc(fn.__doc__ or "")
        for label in ("When:", "Arguments:", "Returns:", "Raising:", "Order:"):
            assert f"\n{label} " in doc, f"{name}: no {label!r} paragraph"
    assert {name for name, _ in _hook_reference().hooks(hookspecs)} == HOOK_NAMES


def test_the_hooks_page_names_no_hook_that_does_not_exist() -> None:
    named = set(re.findall(r"\brcm_[a-z_]+", HOOKS_PAGE.read_text()))
    assert named - HOOK_NAMES - set(NOT_HOOKS) == set()
    assert HOOK_NAMES <= named


def test_a_configuration_summary_is_accepted(tmp_path: Path) -> None:
    """rcm_configure may return a one-line summary (for rcmd --check-config)."""

    class Summarising(Consumer):
        @hookimpl
        def rcm_configure(self, ctx):
            return "1 device protected"

    with Harness(tmp_path, {"s": Summarising([DEV])}) as h:
        configure = h.calls.of(handler="s", hook="rcm_configure")
        assert [c.result for c in configure] == ["1 device protected"]
        assert h.detach("slot:s1").outcome is Outcome.DONE
