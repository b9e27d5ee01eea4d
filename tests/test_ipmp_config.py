"""The IPMP configuration loader: what loads, and the one message for each fault."""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rcm_ipmp.config import (
    GroupConfig,
    InterfaceConfig,
    IpmpConfig,
    load_config,
    parse_address,
)
from rcm_netkit.names import ifname_fault

from rcm.errors import ConfigError


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def nic(root: Path, name: str, text: str) -> Path:
    return write(root, f"interfaces/{name}.toml", text)


def refused(root: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(root)
    return info.value


@pytest.fixture
def two_nic(tmp_path: Path) -> Path:
    write(tmp_path, "ipmp.toml", "[groups.g]\n")
    nic(
        tmp_path,
        "nic0",
        'group = "g"\naddresses = ["192.0.2.10/24", "2001:db8::10/64"]\n'
        'test_addresses = ["192.0.2.20/24"]\n',
    )
    nic(tmp_path, "nic1", 'group = "g"\ntest_addresses = ["192.0.2.21/24"]\nstandby = true\n')
    return tmp_path


# -- what loads -----------------------------------------------------------------


def test_two_nic_group(two_nic: Path) -> None:
    cfg = load_config(two_nic)
    assert cfg.groups == {"g": GroupConfig("g", failback=True)}
    assert set(cfg.interfaces) == {"nic0", "nic1"}
    nic0 = cfg.interfaces["nic0"]
    assert nic0 == InterfaceConfig(
        name="nic0",
        path=two_nic / "interfaces/nic0.toml",
        group="g",
        addresses=(
            ipaddress.IPv4Interface("192.0.2.10/24"),
            ipaddress.IPv6Interface("2001:db8::10/64"),
        ),
        test_addresses=(ipaddress.IPv4Interface("192.0.2.20/24"),),
        standby=False,
    )
    assert cfg.interfaces["nic1"].standby is True
    assert [m.name for m in cfg.members("g")] == ["nic0", "nic1"]
    assert cfg.members("other") == []
    assert cfg.group_of("nic1") == "g"
    assert cfg.group_of("nic9") is None


def test_home_of_matches_by_ip(two_nic: Path) -> None:
    cfg = load_config(two_nic)
    assert cfg.home_of(ipaddress.ip_interface("192.0.2.10/24")) == "nic0"
    assert cfg.home_of(ipaddress.ip_interface("192.0.2.10/16")) == "nic0"
    assert cfg.home_of(ipaddress.ip_address("2001:db8::10")) == "nic0"
    assert cfg.home_of("2001:DB8:0::10/64") == "nic0"
    assert cfg.home_of("192.0.2.20/24") is None  # a test address is nobody's to move
    assert cfg.home_of("198.51.100.1/24") is None
    assert cfg.home_of("junk") is None
    assert cfg.owns("192.0.2.20/24") and cfg.owns("192.0.2.10")
    assert not cfg.owns("198.51.100.1/24")


def test_empty_and_missing(tmp_path: Path) -> None:
    assert load_config(tmp_path) == IpmpConfig({}, {})
    assert load_config(tmp_path / "nope") == IpmpConfig({}, {})
    write(tmp_path, "ipmp.toml", "")
    (tmp_path / "interfaces").mkdir()
    assert load_config(tmp_path) == IpmpConfig({}, {})


def test_nic_in_no_group(tmp_path: Path) -> None:
    nic(tmp_path, "eth0", 'addresses = ["198.51.100.5/24"]\n')
    cfg = load_config(tmp_path)
    assert cfg.group_of("eth0") is None
    assert cfg.home_of("198.51.100.5/24") == "eth0"


def test_failback_false_and_empty_group(tmp_path: Path) -> None:
    write(tmp_path, "ipmp.toml", "[groups.a]\nfailback = false\n[groups.b]\n")
    cfg = load_config(tmp_path)
    assert cfg.groups == {"a": GroupConfig("a", False), "b": GroupConfig("b", True)}


def test_announcements_default_and_per_group(tmp_path: Path) -> None:
    write(
        tmp_path,
        "ipmp.toml",
        "[groups.a]\n[groups.b]\nannounce_count = 5\nannounce_interval_ms = 50\n",
    )
    cfg = load_config(tmp_path)
    assert (cfg.groups["a"].announce_count, cfg.groups["a"].announce_interval_ms) == (3, 200)
    assert (cfg.groups["b"].announce_count, cfg.groups["b"].announce_interval_ms) == (5, 50)


def test_only_toml_files_count(tmp_path: Path) -> None:
    nic(tmp_path, "nic0", "")
    write(tmp_path, "interfaces/nic1.toml.swp", "garbage = [")
    write(tmp_path, "interfaces/README", "garbage")
    write(tmp_path, "interfaces/nic2.toml~", "garbage")
    assert set(load_config(tmp_path).interfaces) == {"nic0"}


@pytest.mark.parametrize(
    "text",
    [
        "192.0.3.0/23",
        "192.0.2.1/31",
        "192.0.2.0/31",
        "192.0.2.0/32",
        "2001:db8::/127",
        "2001:db8::/128",
        "2001:db8::1/64",
        "fe80::1/64",
        "10.0.0.1/8",
    ],
)
def test_host_addresses_accepted(text: str) -> None:
    assert str(parse_address(text)) == str(ipaddress.ip_interface(text))


# -- what is refused, with the message an admin sees -------------------------------


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", 'group = "g"\naddresses = [\n')
    e = refused(tmp_path)
    assert e.path == str(p) and e.key == ""
    assert "TOML syntax error" in e.fault and "line 3" in e.fault
    assert str(e).startswith(f"{p}: TOML syntax error")


def test_syntax_error_in_ipmp_toml(tmp_path: Path) -> None:
    p = write(tmp_path, "ipmp.toml", "[groups.g\n")
    e = refused(tmp_path)
    assert e.path == str(p) and "line 1" in e.fault


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "interfaces" / "nic0.toml"
    p.parent.mkdir()
    p.write_bytes(b'group = "\xff"\n')
    e = refused(tmp_path)
    assert e.path == str(p) and "UTF-8" in e.fault


def test_unknown_key(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", 'grup = "g"\n')
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p), "grup")
    assert str(e) == (
        f"{p}: grup: unknown key (known keys: group, addresses, test_addresses, standby)"
    )


@pytest.mark.parametrize(
    "text, key, fault",
    [
        ("group = 1\n", "group", "must be a string, not an integer"),
        ('group = ""\n', "group", "a group name cannot be empty"),
        ('group = "a b"\n', "group", "group name 'a b' contains ' '"),
        ('addresses = "192.0.2.1/24"\n', "addresses", "must be an array of strings, not a string"),
        ("addresses = [1]\n", "addresses[0]", "must be a string, not an integer"),
        ("test_addresses = [true]\n", "test_addresses[0]", "must be a string, not a boolean"),
        ('standby = "yes"\n', "standby", "must be true or false, not a string"),
        ("standby = 1\n", "standby", "must be true or false, not an integer"),
    ],
)
def test_wrong_type(tmp_path: Path, text: str, key: str, fault: str) -> None:
    write(tmp_path, "ipmp.toml", "[groups.g]\n")
    p = nic(tmp_path, "nic0", text)
    e = refused(tmp_path)
    assert (e.path, e.key, e.fault) == (str(p), key, fault)


@pytest.mark.parametrize(
    "text, fault_part",
    [
        ("192.0.2.300/24", "is not an IP address with a prefix length"),
        ("192.0.2.10", "has no prefix length"),
        ("2001:db8::10", "has no prefix length"),
        ("192.0.2.10/33", "is not an IP address with a prefix length"),
        ("2001:db8::10/129", "is not an IP address with a prefix length"),
        ("192.0.2.10/255.255.255.0", "is not an IP address with a prefix length"),
        ("192.0.2.10/024", "is not an IP address with a prefix length"),
        ("fe80::1%eth0/64", "is not an IP address with a prefix length"),
        (" 192.0.2.10/24", "is not an IP address with a prefix length"),
        ("nic0/24", "is not an IP address with a prefix length"),
        ("", "has no prefix length"),
        ("192.0.2.0/24", "is the network address of 192.0.2.0/24, not a host address"),
        ("192.0.2.255/24", "is the broadcast address of 192.0.2.0/24, not a host address"),
        ("2001:db8::/64", "is the subnet-router anycast address of 2001:db8::/64"),
        ("0.0.0.0/0", "is the unspecified address"),
        ("::/0", "is the unspecified address"),
        ("127.0.0.1/8", "is a loopback address"),
        ("::1/128", "is a loopback address"),
        ("224.0.0.1/4", "is a multicast address"),
        ("ff02::1/16", "is a multicast address"),
        ("::ffff:192.0.2.1/120", "IPv4-mapped"),
    ],
)
def test_bad_address(tmp_path: Path, text: str, fault_part: str) -> None:
    p = nic(tmp_path, "nic0", f'addresses = ["192.0.2.1/24", "{text}"]\n')
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p), "addresses[1]")
    assert fault_part in e.fault
    assert repr(text) in e.fault


def test_bad_test_address(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", 'test_addresses = ["192.0.2.300/24"]\n')
    e = refused(tmp_path)
    assert (
        str(e)
        == f"{p}: test_addresses[0]: '192.0.2.300/24' is not an IP address with a prefix length"
    )


def test_same_address_on_two_nics_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "ipmp.toml", "[groups.g]\n")
    p0 = nic(tmp_path, "nic0", 'group = "g"\naddresses = ["192.0.2.10/24"]\n')
    p1 = nic(tmp_path, "nic1", 'group = "g"\naddresses = ["192.0.2.11/24", "192.0.2.10/25"]\n')
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p1), "addresses[1]")
    assert str(p0) in e.fault and "homed on nic0" in e.fault
    assert (
        str(e) == f"{p1}: addresses[1]: '192.0.2.10/25' is also homed on nic0 ({p0}: addresses[0])"
    )


def test_same_ipv6_in_another_spelling(tmp_path: Path) -> None:
    nic(tmp_path, "a", 'addresses = ["2001:db8::10/64"]\n')
    p = nic(tmp_path, "b", 'addresses = ["2001:DB8:0:0::10/64"]\n')
    e = refused(tmp_path)
    assert e.path == str(p) and "homed on a" in e.fault


def test_data_and_test_address_on_one_nic(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", 'addresses = ["192.0.2.10/24"]\ntest_addresses = ["192.0.2.10/24"]\n')
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p), "test_addresses[0]")
    assert e.fault == (
        "'192.0.2.10/24' is listed as both a data address and a test address (also addresses[0])"
    )


def test_data_address_of_one_nic_is_test_address_of_another(tmp_path: Path) -> None:
    p0 = nic(tmp_path, "nic0", 'test_addresses = ["192.0.2.10/24"]\n')
    p1 = nic(tmp_path, "nic1", 'addresses = ["192.0.2.10/24"]\n')
    e = refused(tmp_path)
    assert e.path == str(p1)
    assert e.fault == (
        f"'192.0.2.10/24' is also configured as a test address of nic0 ({p0}: test_addresses[0])"
    )


def test_duplicate_in_a_list(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", 'addresses = ["192.0.2.10/24", "192.0.2.11/24", "192.0.2.10/24"]\n')
    e = refused(tmp_path)
    assert str(e) == f"{p}: addresses[2]: '192.0.2.10/24' is listed twice (also addresses[0])"


def test_unknown_group(tmp_path: Path) -> None:
    write(tmp_path, "ipmp.toml", "[groups.g]\n")
    p = nic(tmp_path, "nic0", 'group = "h"\n')
    e = refused(tmp_path)
    assert str(e) == (
        f"{p}: group: group 'h' is not declared in {tmp_path / 'ipmp.toml'} (add [groups.h])"
    )


def test_missing_ipmp_toml_declares_no_group(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", 'group = "g"\n')
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p), "group")


def test_standby_with_data_addresses(tmp_path: Path) -> None:
    write(tmp_path, "ipmp.toml", "[groups.g]\n")
    p = nic(tmp_path, "nic0", 'group = "g"\nstandby = true\naddresses = ["192.0.2.10/24"]\n')
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p), "standby")
    assert "standby interface cannot home data addresses" in e.fault


def test_standby_outside_a_group(tmp_path: Path) -> None:
    p = nic(tmp_path, "nic0", "standby = true\n")
    e = refused(tmp_path)
    assert (e.path, e.key) == (str(p), "standby")
    assert "must be in a group" in e.fault


@pytest.mark.parametrize(
    "text, key, fault",
    [
        (
            "[groups.g]\nfailback = 'yes'\n",
            "groups.g.failback",
            "must be true or false, not a string",
        ),
        (
            "[groups.g]\nfailback = 0\n",
            "groups.g.failback",
            "must be true or false, not an integer",
        ),
        (
            "[groups.g]\nfailbak = true\n",
            "groups.g.failbak",
            "unknown key (known keys: failback, failure_detection_time_ms, targets,"
            " announce_count, announce_interval_ms)",
        ),
        (
            "[groups.g]\nannounce_count = 0\n",
            "groups.g.announce_count",
            "must be from 1 to 100, not 0",
        ),
        (
            "[groups.g]\nannounce_count = true\n",
            "groups.g.announce_count",
            "must be an integer, not a boolean",
        ),
        (
            "[groups.g]\nannounce_interval_ms = 2.5\n",
            "groups.g.announce_interval_ms",
            "must be an integer, not a float",
        ),
        (
            "[groups.g]\nannounce_interval_ms = 5\n",
            "groups.g.announce_interval_ms",
            "must be from 10 to 60000, not 5",
        ),
        ("[group.g]\n", "group", "unknown key (known keys: groups)"),
        ("groups = 1\n", "groups", "must be a table, not an integer"),
        ("[groups]\ng = 1\n", "groups.g", "must be a table, not an integer"),
        ('[groups."a b"]\n', "groups.a b", "group name 'a b' contains ' '"),
        ('[groups.""]\n', "groups.", "a group name cannot be empty"),
    ],
)
def test_ipmp_toml_faults(tmp_path: Path, text: str, key: str, fault: str) -> None:
    p = write(tmp_path, "ipmp.toml", text)
    e = refused(tmp_path)
    assert (e.path, e.key, e.fault) == (str(p), key, fault)


@pytest.mark.parametrize("name", ["", "a" * 16, "eth0:1", "a b", "é" * 8])
def test_bad_interface_file_name(tmp_path: Path, name: str) -> None:
    p = nic(tmp_path, name, "")
    e = refused(tmp_path)
    assert e.path == str(p) and "file name must be <ifname>.toml" in e.fault


def test_interface_name_rule() -> None:
    """The file-name rule is rcm_netkit's one interface-name rule."""
    assert ifname_fault("a" * 15) is None
    assert ifname_fault("enp0s31f6") is None
    assert ifname_fault(".") and ifname_fault("..") and ifname_fault("a/b")
    assert ifname_fault("a\tb") and ifname_fault("")


def test_directory_named_like_a_file(tmp_path: Path) -> None:
    (tmp_path / "interfaces" / "nic0.toml").mkdir(parents=True)
    e = refused(tmp_path)
    assert e.path == str(tmp_path / "interfaces" / "nic0.toml") and "directory" in e.fault


def test_interfaces_is_a_file(tmp_path: Path) -> None:
    write(tmp_path, "interfaces", "")
    e = refused(tmp_path)
    assert e.path == str(tmp_path / "interfaces") and "must be a directory" in e.fault


def test_unreadable_file(tmp_path: Path) -> None:
    """A file that cannot be read (here a symlink loop, which even root cannot
    open) is refused by name rather than skipped."""
    (tmp_path / "interfaces").mkdir(parents=True, exist_ok=True)
    p = tmp_path / "interfaces" / "nic0.toml"
    p.symlink_to(p)
    e = refused(tmp_path)
    assert e.path == str(p) and "cannot read" in e.fault


def test_first_fault_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path, "ipmp.toml", "[groups.g]\n")
    nic(tmp_path, "nic2", "bogus = 1\n")
    p1 = nic(tmp_path, "nic1", "addresses = [1]\n")
    nic(tmp_path, "nic10", "bogus = 1\n")
    e = refused(tmp_path)
    assert e.path == str(p1)  # "nic1" < "nic10" < "nic2"


def test_ipmp_toml_is_checked_first(tmp_path: Path) -> None:
    p = write(tmp_path, "ipmp.toml", "bogus = 1\n")
    nic(tmp_path, "a", "bogus = 1\n")
    assert refused(tmp_path).path == str(p)


def test_keys_checked_in_fixed_order(tmp_path: Path) -> None:
    # Unknown keys first, then group, addresses, test_addresses, standby.
    p = nic(tmp_path, "nic0", 'zz = 1\ngroup = "nope"\n')
    assert refused(tmp_path).key == "zz"
    p.write_text('standby = 1\ntest_addresses = [1]\naddresses = [1]\ngroup = "nope"\n')
    assert refused(tmp_path).key == "group"
    p.write_text("standby = 1\ntest_addresses = [1]\naddresses = [1]\n")
    assert refused(tmp_path).key == "addresses[0]"


# -- properties ---------------------------------------------------------------------

_v4 = st.builds(lambda n: f"192.0.2.{n}/24", st.integers(1, 254))
_v6 = st.builds(lambda n: f"2001:db8::{n:x}/64", st.integers(1, 0xFFFF))


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, bool], dict[str, dict]]:
    """A valid tree as data: group -> failback, ifname -> file contents."""
    groups = draw(st.dictionaries(st.sampled_from(["g", "h", "web-1"]), st.booleans(), max_size=3))
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9]{0,14}", fullmatch=True), max_size=5, unique=True)
    )
    pool = draw(st.lists(st.one_of(_v4, _v6), unique_by=lambda s: s.split("/")[0], max_size=20))
    files = {}
    for name in names:
        doc: dict = {}
        group = draw(st.none() | st.sampled_from(sorted(groups))) if groups else None
        if group is not None:
            doc["group"] = group
        standby = group is not None and draw(st.booleans())
        if standby:
            doc["standby"] = True
        elif draw(st.booleans()):
            doc["standby"] = False
        for key in ("addresses", "test_addresses"):
            if key == "addresses" and standby:
                continue
            k = draw(st.integers(0, min(3, len(pool))))
            if k or draw(st.booleans()):
                doc[key], pool = pool[:k], pool[k:]
        files[name] = doc
    return groups, files


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_valid_trees_load_as_written(tree: tuple[dict[str, bool], dict[str, dict]]) -> None:
    groups, files = tree
    root = Path(tempfile.mkdtemp())
    try:
        if groups:
            write(
                root,
                "ipmp.toml",
                "".join(
                    f"[groups.{g}]\nfailback = {_toml_value(fb)}\n" for g, fb in groups.items()
                ),
            )
        for name, doc in files.items():
            nic(root, name, "".join(f"{k} = {_toml_value(v)}\n" for k, v in doc.items()))
        cfg = load_config(root)
    finally:
        shutil.rmtree(root)
    assert {g: c.failback for g, c in cfg.groups.items()} == groups
    assert set(cfg.interfaces) == set(files)
    for name, doc in files.items():
        got = cfg.interfaces[name]
        assert got.group == doc.get("group")
        assert got.standby == doc.get("standby", False)
        assert [str(a) for a in got.addresses] == [
            str(ipaddress.ip_interface(a)) for a in doc.get("addresses", [])
        ]
        assert [str(a) for a in got.test_addresses] == [
            str(ipaddress.ip_interface(a)) for a in doc.get("test_addresses", [])
        ]
        for a in got.addresses:
            assert cfg.home_of(a) == name
        for a in got.test_addresses:
            assert cfg.home_of(a) is None
        if got.group:
            assert got in cfg.members(got.group)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120), st.text(max_size=80))
def test_any_text_loads_or_is_one_config_error(nic_text: str, ipmp_text: str) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        write(root, "ipmp.toml", ipmp_text)
        nic(root, "nic0", nic_text)
        try:
            load_config(root)
        except ConfigError as e:
            assert e.path in (str(root / "ipmp.toml"), str(root / "interfaces/nic0.toml"))
            assert "\n" not in e.key
    finally:
        shutil.rmtree(root)


_fragments = st.sampled_from(
    [
        'group = "g"',
        'group = "h"',
        "group = 1",
        "standby = true",
        "standby = false",
        'addresses = ["192.0.2.10/24"]',
        'addresses = ["192.0.2.11/24", "2001:db8::1/64"]',
        'addresses = ["192.0.2.300/24"]',
        'test_addresses = ["192.0.2.10/24"]',
        'test_addresses = ["fe80::1/64"]',
        "bogus = 2",
        "addresses = [",
    ]
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.lists(_fragments, max_size=4, unique=True))
)
def test_structured_fuzz_is_deterministic(files: dict[str, list[str]]) -> None:
    """Loading never crashes, and twice gives the same error (first fault, sorted order)."""
    root = Path(tempfile.mkdtemp())
    try:
        write(root, "ipmp.toml", "[groups.g]\n")
        for name, lines in files.items():
            keys = [line.split(" ")[0] for line in lines]
            if len(set(keys)) != len(keys):
                continue  # a duplicate key is a TOML error; covered elsewhere
            nic(root, name, "\n".join(lines) + "\n")
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(load_config(root))
            except ConfigError as e:
                outcomes.append(str(e))
        assert outcomes[0] == outcomes[1]
    finally:
        shutil.rmtree(root)
