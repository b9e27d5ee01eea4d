"""rcm.toml: the engine's tables, and built-in plugins configured like third-party ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from rcm_ipmp.handler import IpmpHandler
from rcm_net.plugin import DEFAULT_HOLDING, NetPlugin

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.settings import KNOWN_TABLES, load_settings
from rcm.testing import Harness


def test_the_engine_knows_no_plugin_tables() -> None:
    assert KNOWN_TABLES == {"handlers", "udev", "plugins"}


def test_an_old_netns_table_points_to_its_new_place(tmp_path: Path) -> None:
    path = tmp_path / "rcm.toml"
    path.write_text('[netns]\nholding = "h"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == (
        f"{path}: netns: this table has moved: write [plugins.net] instead (same keys)"
    )


def test_the_holding_namespace_is_read_from_the_plugins_own_section(tmp_path: Path) -> None:
    net = NetPlugin()
    with Harness(tmp_path, {"net": net}, rcm_toml='[plugins.net]\nholding = "rcm-h2"\n') as h:
        assert net.holding == "rcm-h2"
        (backend_owner, backend) = h.coordinator.backends["net"]
        assert backend_owner == "net" and backend.holding == "rcm-h2"


def test_without_a_section_the_default_holds(tmp_path: Path) -> None:
    net = NetPlugin()
    with Harness(tmp_path, {"net": net}):
        assert net.holding == DEFAULT_HOLDING


@pytest.mark.parametrize(
    ("toml", "key", "fault"),
    [
        ('[plugins.net]\nholdng = "x"\n', "plugins.net.holdng", "unknown key (known: holding)"),
        (
            '[plugins.net]\nholding = "a/b"\n',
            "plugins.net.holding",
            "'a/b' is not a namespace name (letters, digits, '_', '-', '.'; 1-64)",
        ),
        ("[plugins]\nnet = 3\n", "plugins.net", "must be a table, e.g. [plugins.net]"),
    ],
)
def test_a_bad_net_section_is_one_line(tmp_path: Path, toml: str, key: str, fault: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Harness(tmp_path, {"net": NetPlugin()}, rcm_toml=toml)
    assert (caught.value.path, caught.value.key, caught.value.fault) == (
        str(tmp_path / "etc" / "rcm.toml"),
        key,
        fault,
    )


def test_configure_says_what_it_read(tmp_path: Path) -> None:
    """rcm_configure's one-line summaries (rcmd --check-config shows each after the
    handler's name)."""
    net, ipmp = NetPlugin(), IpmpHandler()
    files = {
        "ipmp.toml": "[groups.g]\n",
        "interfaces/nic0.toml": 'group = "g"\naddresses = ["192.0.2.10/24"]\n',
        "interfaces/nic1.toml": 'group = "g"\n',
    }
    with Harness(tmp_path, {"net": net, "ipmp": ipmp}, config_files=files, reconcile=False) as h:
        said = {
            c.handler: c.result
            for c in h.calls.of(hook="rcm_configure")
            if c.handler in ("net", "ipmp")
        }
    etc = tmp_path / "etc"
    assert said == {
        "net": "holding namespace rcm-holding",
        "ipmp": f"2 interface files (nic0, nic1) in {etc}/interfaces,"
        f" 1 group (g) from {etc}/ipmp.toml",
    }


DOCUMENTED = [
    # (rcm.toml, the line docs/configuration.md shows for it)
    ("[handlers]\ntimout = 3\n", "handlers.timout: unknown key (known: timeout)"),
    ("handlers = 3\n", "handlers: must be a table, e.g. [handlers]"),
    ("[daemon]\n", "daemon: unknown table (known: handlers, plugins, udev)"),
    (
        '[netns]\nholding = "h"\n',
        "netns: this table has moved: write [plugins.net] instead (same keys)",
    ),
    (
        "[handlers]\ntimeout = 0\n",
        "handlers.timeout: must be a number of seconds from 0.1 to 86400 (1 day), not 0",
    ),
    (
        "[handlers]\ntimeout = inf\n",
        "handlers.timeout: must be a number of seconds from 0.1 to 86400 (1 day), not inf",
    ),
    (
        "[udev]\nreceive_buffer = 100\n",
        "udev.receive_buffer: must be an integer >= 4096 bytes, not 100",
    ),
    (
        '[plugins.net]\nholding = "a/b"\n',
        "plugins.net.holding: 'a/b' is not a namespace name (letters, digits, '_', '-', '.'; 1-64)",
    ),
    ('[plugins.net]\nholdng = "x"\n', "plugins.net.holdng: unknown key (known: holding)"),
]


@pytest.mark.parametrize(("toml", "line"), DOCUMENTED)
def test_the_documented_rcm_toml_errors_are_what_rcm_says(
    tmp_path: Path, toml: str, line: str
) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    assert f"/etc/rcm/rcm.toml: {line}\n" in docs
    with pytest.raises(ConfigError) as caught:
        Harness(tmp_path, {"net": NetPlugin()}, rcm_toml=toml)
    assert str(caught.value) == f"{tmp_path / 'etc' / 'rcm.toml'}: {line}"


class _SectionReader:
    """A third-party handler that reads its section through ctx.plugin_settings."""

    def __init__(self) -> None:
        self.section: dict[str, object] | None = None

    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> None:
        self.section = ctx.plugin_settings(("protect", "reason"))


def test_plugin_settings_gives_a_good_section_as_written(tmp_path: Path) -> None:
    reader = _SectionReader()
    toml = '[plugins.guard]\nprotect = ["net/nic0"]\nreason = "backups"\n'
    with Harness(tmp_path, {"guard": reader}, rcm_toml=toml):
        assert reader.section == {"protect": ["net/nic0"], "reason": "backups"}


def test_plugin_settings_without_a_section_is_empty(tmp_path: Path) -> None:
    reader = _SectionReader()
    with Harness(tmp_path, {"guard": reader}, rcm_toml="[plugins.other]\nx = 1\n"):
        assert reader.section == {}


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (
            "[plugins]\nguard = 3\n",
            "plugins.guard: must be a table, e.g. [plugins.guard]",
        ),
        (
            '[plugins.guard]\nprotect = []\nresaon = "x"\n',
            "plugins.guard.resaon: unknown key (known: protect, reason)",
        ),
    ],
)
def test_plugin_settings_refuses_a_bad_section_in_one_line(
    tmp_path: Path, toml: str, line: str
) -> None:
    reader = _SectionReader()
    with pytest.raises(ConfigError) as caught:
        Harness(tmp_path, {"guard": reader}, rcm_toml=toml)
    assert str(caught.value) == f"{tmp_path / 'etc' / 'rcm.toml'}: {line}"
    assert reader.section is None
