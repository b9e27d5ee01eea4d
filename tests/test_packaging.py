"""packaging/: the udev rules, the systemd unit and the tmpfiles snippet.

``systemd-analyze verify`` checks the unit where it exists (it does here: systemd 252, no
running systemd needed); ``udevadm verify`` would check the rules but there is no udevadm
here (nor in systemd 252: it came in 254), so the rules are read by a parser of our own
that knows udev(7)'s keys and operators and fails on anything else, and a small evaluator
runs them on sample devices (which get tagged, which wake rcmd).  The same parser checks
the unit's keys when systemd-analyze is missing.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"
RULES = PACKAGING / "90-rcm.rules"
UNIT = PACKAGING / "rcmd.service"
TMPFILES = PACKAGING / "rcm.tmpfiles.conf"

# --------------------------------------------------------------------------- udev rules

MATCH_KEYS = {
    "ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK", "SUBSYSTEM", "SUBSYSTEMS",
    "DRIVER", "DRIVERS", "ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "TAG", "TAGS", "TEST",
    "PROGRAM", "RESULT",
}  # fmt: skip
ASSIGN_KEYS = {
    "NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "SECLABEL", "ATTR", "SYSCTL", "ENV", "TAG",
    "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS",
}  # fmt: skip
NEEDS_ATTR = {"ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "SECLABEL", "IMPORT"}
TOKEN = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


class Rule:
    def __init__(self, line: int, tokens: list[tuple[str, str | None, str, str]]) -> None:
        self.line = line
        self.tokens = tokens


def parse_rules(text: str, where: str = "rules") -> list[Rule]:
    """udev(7) rules: one rule a line (backslash continues it), comma-separated
    ``KEY[{attr}]OP"value"``; unknown keys, operators or a key used with the wrong kind of
    operator are errors naming the line."""
    rules: list[Rule] = []
    lines = text.replace("\\\n", "").splitlines()
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = []
        pos = 0
        while pos < len(line):
            m = TOKEN.match(line, pos)
            if not m:
                raise ValueError(f"{where}:{number}: cannot parse at {line[pos:]!r}")
            key, attr, op, value = m.groups()
            is_match = op in ("==", "!=")
            known = MATCH_KEYS if is_match else ASSIGN_KEYS
            if key not in known:
                kind = "match" if is_match else "assignment"
                raise ValueError(f"{where}:{number}: unknown {kind} key {key}")
            if (key in NEEDS_ATTR) != (attr is not None) and key not in ("IMPORT",):
                need = "needs" if attr is None else "takes no"
                raise ValueError(f"{where}:{number}: {key} {need} {{attribute}}")
            if key in ("LABEL", "GOTO") and op != "=":
                raise ValueError(f"{where}:{number}: {key} takes only '='")
            tokens.append((key, attr, op, value))
            pos = m.end()
            if pos < len(line):
                if line[pos] != ",":
                    raise ValueError(f"{where}:{number}: expected ',' at {line[pos:]!r}")
                pos += 1
        rules.append(Rule(number, tokens))
    labels = {v for r in rules for k, _, _, v in r.tokens if k == "LABEL"}
    for r in rules:
        for k, _, _, v in r.tokens:
            if k == "GOTO" and v not in labels:
                raise ValueError(f"{where}:{r.line}: GOTO {v!r} has no LABEL")
    return rules


def evaluate(rules: list[Rule], device: dict[str, str]) -> tuple[set[str], dict[str, str]]:
    """Run the rules on one device (its ACTION, SUBSYSTEM, KERNEL, ENV): the tags and the
    environment it ends with.  Enough of udev for these rules: == and != on plain keys and
    ENV{}, with | alternatives and globs; GOTO/LABEL; = and += on TAG and ENV{}."""
    env = {k: v for k, v in device.items() if k not in ("ACTION", "SUBSYSTEM", "KERNEL")}
    tags: set[str] = set()
    skip_to: str | None = None
    for rule in rules:
        label = next((v for k, _, _, v in rule.tokens if k == "LABEL"), None)
        if skip_to is not None:
            if label != skip_to:
                continue
            skip_to = None
        matched = True
        for key, attr, op, value in rule.tokens:
            if op not in ("==", "!="):
                continue
            have = env.get(attr or "", "") if key == "ENV" else device.get(key, "")
            hit = any(fnmatch.fnmatchcase(have, alt) for alt in value.split("|"))
            if hit != (op == "=="):
                matched = False
                break
        if not matched:
            continue
        for key, attr, op, value in rule.tokens:
            if key == "TAG" and op in ("=", "+="):
                tags = {value} if op == "=" else tags | {value}
            elif key == "ENV" and op in ("=", "+="):
                assert attr is not None
                old = env.get(attr, "")
                env[attr] = value if op == "=" or not old else f"{old} {value}"
            elif key == "GOTO":
                skip_to = value
    return tags, env


def test_rules_parse_and_never_run_a_program() -> None:
    rules = parse_rules(RULES.read_text(), RULES.name)
    keys = {k for r in rules for k, _, _, _ in r.tokens}
    assert "RUN" not in keys and "PROGRAM" not in keys
    assert len(rules) >= 5


@pytest.mark.parametrize(
    ("device", "wakes"),
    [
        ({"ACTION": "add", "SUBSYSTEM": "net", "KERNEL": "eth0"}, True),
        ({"ACTION": "add", "SUBSYSTEM": "net", "KERNEL": "lo"}, False),
        ({"ACTION": "add", "SUBSYSTEM": "pci", "KERNEL": "0000:00:03.0"}, True),
        ({"ACTION": "add", "SUBSYSTEM": "usb", "KERNEL": "1-1", "DEVTYPE": "usb_device"}, True),
        ({"ACTION": "add", "SUBSYSTEM": "usb", "KERNEL": "1-1:1", "DEVTYPE": "usb_if"}, False),
        ({"ACTION": "add", "SUBSYSTEM": "cpu", "KERNEL": "cpu1"}, True),
        ({"ACTION": "add", "SUBSYSTEM": "memory", "KERNEL": "memory32"}, True),
        ({"ACTION": "add", "SUBSYSTEM": "scsi", "KERNEL": "0:0:0:0"}, True),
        ({"ACTION": "change", "SUBSYSTEM": "net", "KERNEL": "eth0"}, True),
        ({"ACTION": "remove", "SUBSYSTEM": "net", "KERNEL": "eth0"}, False),
        ({"ACTION": "add", "SUBSYSTEM": "block", "KERNEL": "sda"}, False),
        ({"ACTION": "add", "SUBSYSTEM": "net", "KERNEL": "eth9", "RCM_IGNORE": "1"}, False),
    ],
)  # fmt: skip
def test_rules_tag_every_class_rcmd_handles(device: dict[str, str], wakes: bool) -> None:
    tags, env = evaluate(parse_rules(RULES.read_text()), device)
    if wakes:
        assert tags == {"rcm", "systemd"}
        assert env["SYSTEMD_WANTS"].split() == ["rcmd.service"]
    else:
        assert tags == set() and "SYSTEMD_WANTS" not in env


def test_policy_examples_in_docs_parse() -> None:
    """Every rule in docs/udev.md's ``udev`` blocks is valid udev(7) syntax."""
    doc = (REPO / "docs" / "udev.md").read_text()
    blocks = re.findall(r"```udev\n(.*?)```", doc, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        rules = parse_rules(block, "docs/udev.md")
        for rule in rules:
            for key, attr, op, value in rule.tokens:
                if key == "ENV" and attr == "RCM_PROTECT" and op == "=":
                    assert value in ("data", "system")


@pytest.mark.parametrize(
    "bad",
    [
        'SUBSYSTEM=="net", RUNN+="x"',
        'SUBSYSTEM=>"net"',
        'ENV=="1"',
        'GOTO="nowhere"',
        'LABEL=="x"',
        'SUBSYSTEM=="net" TAG+="x"',
    ],
)
def test_rules_parser_refuses_what_udev_would(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(bad)


# --------------------------------------------------------------------------- systemd unit

UNIT_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Before", "Wants", "Requires"},
    "Service": {
        "Type", "NotifyAccess", "Environment", "ExecStartPre", "ExecStart", "ExecReload",
        "Restart", "RestartSec", "KillMode", "TimeoutStopSec", "RuntimeDirectory",
        "RuntimeDirectoryMode", "RuntimeDirectoryPreserve", "StateDirectory",
        "StateDirectoryMode", "ConfigurationDirectory", "CapabilityBoundingSet",
        "NoNewPrivileges", "RestrictAddressFamilies", "RestrictNamespaces", "LockPersonality",
        "RestrictRealtime", "RestrictSUIDSGID", "SystemCallArchitectures",
    },
    "Install": {"WantedBy"},
}  # fmt: skip
MOUNT_NAMESPACE_KEYS = {
    "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths", "ReadOnlyPaths",
    "InaccessiblePaths", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "PrivateDevices", "PrivateMounts", "TemporaryFileSystem",
    "BindPaths", "MountFlags", "ProtectProc",
}  # fmt: skip
"""Each puts rcmd in a mount namespace whose mounts never reach the host: the holding
namespace rcmd mounts on /run/netns/<name> would be invisible to cfgadm and ``ip netns``
(and ProtectKernelTunables makes /proc/sys, where rcmd sets arp_ignore, read-only)."""


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """An ini-style unit: sections, ``Key=value`` (repeatable); unknown sections or keys
    (not in UNIT_KEYS, the keys this unit is meant to use) are errors."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line.strip("[]")
            if current not in UNIT_KEYS:
                raise ValueError(f"line {number}: unknown section [{current}]")
            sections.setdefault(current, {})
            continue
        key, eq, value = line.partition("=")
        if current is None or not eq:
            raise ValueError(f"line {number}: not Key=value in a section: {line!r}")
        if key not in UNIT_KEYS[current]:
            raise ValueError(f"line {number}: unknown key {key} in [{current}]")
        sections[current].setdefault(key, []).append(value)
    return sections


def test_unit_keys() -> None:
    unit = parse_unit(UNIT.read_text())
    service = unit["Service"]
    assert service["Type"] == ["notify"]
    assert service["Restart"] == ["on-failure"]
    # rcmd reload: all or nothing, and a refused configuration fails the reload
    assert service["ExecReload"] == ["@RCMD@ reload"]
    assert service["ExecStart"] == ["@RCMD@"]
    assert set(service["CapabilityBoundingSet"][0].split()) >= {
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_SYS_ADMIN",
    }
    # what rcmd opens: its control socket, netlink (pyroute2, pyudev), AF_PACKET (ARP/NA)
    families = set(service["RestrictAddressFamilies"][0].split())
    assert {"AF_UNIX", "AF_NETLINK", "AF_PACKET"} <= families
    assert service["RestrictNamespaces"] == ["net"]  # the holding namespace is unshared
    assert not MOUNT_NAMESPACE_KEYS & set(service), MOUNT_NAMESPACE_KEYS.__doc__
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize("bad", ["[Service]\nTypo=1\n", "[Servise]\nType=notify\n", "Type=x\n"])
def test_unit_parser_refuses_unknown_keys(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_unit(bad)


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own check, where systemd-analyze exists (an unknown key is only a
    warning to it, exit 0: any output at all fails the test)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here (the unit's keys are checked by test_unit_keys)")
    rcmd = Path(sys.executable).with_name("rcmd")
    unit = tmp_path / "rcmd.service"
    unit.write_text(UNIT.read_text().replace("@RCMD@", str(rcmd)))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    # and it does complain about what it does not know
    bad = tmp_path / "bad.service"
    bad.write_text("[Service]\nExecStart=/bin/true\nBogusKey=1\n")
    r = subprocess.run([analyze, "verify", str(bad)], capture_output=True, text=True, timeout=120)
    assert "Unknown key" in r.stdout + r.stderr


# --------------------------------------------------------------------------- tmpfiles


def test_tmpfiles_snippet_matches_the_daemons_modes() -> None:
    entries = {}
    for line in TMPFILES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            kind, path, mode, user, group, age = line.split()
            entries[path] = (kind, mode, user, group, age)
    assert entries == {
        "/run/rcm": ("d", "0755", "root", "root", "-"),
        "/var/lib/rcm": ("d", "0700", "root", "root", "-"),
    }


# --------------------------------------------------------------------------- package data


def test_package_data_carries_packaging(tmp_path: Path) -> None:
    """What setuptools builds into the wheel (build_py: the same file list)."""
    r = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
         "--build-lib", str(tmp_path / "lib")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    shutil.rmtree(REPO / "build", ignore_errors=True)
    assert r.returncode == 0, r.stderr
    built = tmp_path / "lib" / "rcm_packaging"
    for name in ("90-rcm.rules", "rcmd.service", "rcm.tmpfiles.conf", "install.sh"):
        assert (built / name).read_bytes() == (PACKAGING / name).read_bytes(), name
