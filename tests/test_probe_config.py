"""The probing keys of ipmp.toml: failure_detection_time_ms and targets."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from rcm_ipmp.config import load_config

from rcm.errors import ConfigError


def groups(root: Path, text: str) -> Path:
    path = root / "ipmp.toml"
    path.write_text(text)
    return path


def test_defaults_are_in_mpathd_s() -> None:
    from rcm_ipmp.config import GroupConfig

    g = GroupConfig("g")
    assert (g.failure_detection_time_ms, g.targets) == (10_000, ())


def test_detection_time_and_targets_load(tmp_path: Path) -> None:
    groups(
        tmp_path,
        '[groups.g]\nfailure_detection_time_ms = 100\ntargets = ["192.0.2.1", "fe80::1"]\n',
    )
    g = load_config(tmp_path).groups["g"]
    assert g.failure_detection_time_ms == 100
    assert g.targets == (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("fe80::1"))


@pytest.mark.parametrize(
    "text, key, fault",
    [
        (
            "failure_detection_time_ms = 99",
            "groups.g.failure_detection_time_ms",
            "99 is below the minimum of 100 ms",
        ),
        (
            'failure_detection_time_ms = "10s"',
            "groups.g.failure_detection_time_ms",
            "must be an integer (milliseconds), not a string",
        ),
        (
            "failure_detection_time_ms = true",
            "groups.g.failure_detection_time_ms",
            "must be an integer (milliseconds), not a boolean",
        ),
        (
            "failure_detection_time_ms = 1.5",
            "groups.g.failure_detection_time_ms",
            "must be an integer (milliseconds), not a float",
        ),
        ('targets = "192.0.2.1"', "groups.g.targets", "must be an array of strings, not a string"),
        ("targets = [1]", "groups.g.targets[0]", "must be a string, not an integer"),
        (
            'targets = ["192.0.2.1/24"]',
            "groups.g.targets[0]",
            "'192.0.2.1/24' is not an IP address (write the address alone, no prefix length)",
        ),
        ('targets = ["router"]', "groups.g.targets[0]", "'router' is not an IP address"),
        (
            'targets = ["224.0.0.1"]',
            "groups.g.targets[0]",
            "'224.0.0.1' cannot be a probe target (not unicast)",
        ),
        (
            'targets = ["2001:db8::1"]',
            "groups.g.targets[0]",
            "'2001:db8::1': an IPv6 probe target must be link-local (fe80::/10), as IPv6"
            " probes go from the link-local address",
        ),
        (
            'targets = ["192.0.2.1", "192.0.2.1"]',
            "groups.g.targets[1]",
            "'192.0.2.1' is listed twice",
        ),
    ],
)
def test_faults_are_one_line_naming_the_key(
    tmp_path: Path, text: str, key: str, fault: str
) -> None:
    path = groups(tmp_path, f"[groups.g]\n{text}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    e = info.value
    assert (e.path, e.key, e.fault) == (str(path), key, fault)
    assert "\n" not in str(e)
