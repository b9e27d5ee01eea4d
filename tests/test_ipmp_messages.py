"""What the IPMP handler prints: addresses in one order, what a detach moved, what it read."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from rcm_ipmp.config import GroupConfig, InterfaceConfig, IpmpConfig, load_config
from rcm_ipmp.messages import config_summary, in_order, listed, moved_messages
from rcm_ipmp.placement import plan_group


def test_ipv4_first_then_ipv6_each_numerically() -> None:
    mixed = ["2001:db8::10/64", "192.0.2.10/24", "2001:db8::9/64", "10.0.0.1/8", "192.0.2.9/24"]
    want = ["10.0.0.1/8", "192.0.2.9/24", "192.0.2.10/24", "2001:db8::9/64", "2001:db8::10/64"]
    for _ in range(20):
        random.shuffle(mixed)
        assert in_order(mixed) == want


addresses = st.one_of(
    st.ip_addresses(v=4).map(lambda a: f"{a}/24"), st.ip_addresses(v=6).map(lambda a: f"{a}/64")
)


@given(st.lists(addresses, unique=True))
def test_any_list_prints_in_the_same_order(addrs: list[str]) -> None:
    out = in_order(addrs)
    assert in_order(reversed(addrs)) == out
    keys = [(i.version, int(i.ip)) for i in map(ipaddress.ip_interface, out)]
    assert keys == sorted(keys)


def test_a_long_list_is_counted_past_the_limit() -> None:
    many = [f"198.51.100.{n}/24" for n in range(20, 0, -1)]
    assert listed(many, limit=3) == "198.51.100.1/24, 198.51.100.2/24, 198.51.100.3/24 and 17 more"
    assert listed(many[:2]) == "198.51.100.19/24, 198.51.100.20/24"


def _config() -> IpmpConfig:
    def nic(name: str, *addrs: str, standby: bool = False) -> InterfaceConfig:
        parsed = tuple(ipaddress.ip_interface(a) for a in addrs)
        return InterfaceConfig(name, Path(f"{name}.toml"), "g", parsed, (), standby)

    return IpmpConfig(
        interfaces={
            "nic0": nic("nic0", "2001:db8::10/64", "192.0.2.10/24"),
            "nic1": nic("nic1", "192.0.2.11/24"),
            "nic2": nic("nic2", standby=True),
        },
        groups={"g": GroupConfig("g")},
    )


def test_a_detach_says_what_moved_one_line_per_nic() -> None:
    config = _config()
    hosted = {
        ipaddress.ip_interface("192.0.2.10/24"): "nic0",
        ipaddress.ip_interface("2001:db8::10/64"): "nic0",
        ipaddress.ip_interface("192.0.2.11/24"): "nic1",
    }
    plan = plan_group(config, "g", {"nic1", "nic2"}, hosted)  # nic0 is going away
    assert moved_messages(plan, config) == [  # to the standby first
        "moving addresses from nic0 to nic2: 192.0.2.10/24, 2001:db8::10/64"
    ]
    plan = plan_group(config, "g", {"nic2"}, hosted)  # nic0 and nic1 both away
    assert moved_messages(plan, config) == [
        "moving addresses from nic0 to nic2: 192.0.2.10/24, 2001:db8::10/64",
        "moving addresses from nic1 to nic2: 192.0.2.11/24",
    ]
    # addresses on no NIC: from their (missing) home, or restored at home
    plan = plan_group(config, "g", {"nic1"}, {})
    assert moved_messages(plan, config) == [
        "moving addresses from nic0 to nic1: 192.0.2.10/24, 2001:db8::10/64",
        "restoring addresses on nic1: 192.0.2.11/24",
    ]


def test_the_summary_says_what_was_read(tmp_path: Path) -> None:
    empty = config_summary(load_config(tmp_path), tmp_path)
    assert empty == (
        f"no interface files in {tmp_path}/interfaces, no groups (no {tmp_path}/ipmp.toml)"
    )
    (tmp_path / "ipmp.toml").write_text("")
    (tmp_path / "interfaces").mkdir()
    (tmp_path / "interfaces" / "nic0.toml").write_text("")
    one = config_summary(load_config(tmp_path), tmp_path)
    assert one == (
        f"1 interface file (nic0) in {tmp_path}/interfaces, no groups in {tmp_path}/ipmp.toml"
    )
    for n in range(1, 12):
        (tmp_path / "interfaces" / f"nic{n}.toml").write_text("")
    many = config_summary(load_config(tmp_path), tmp_path)
    assert many.startswith("12 interface files (nic0, nic1, nic10, nic11, nic2, nic3,")
    assert ", … 4 more) in " in many
