"""Placement of a group's data addresses: examples, then properties."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rcm_ipmp.config import GroupConfig, InterfaceConfig, IpmpConfig
from rcm_ipmp.placement import (
    Move,
    Plan,
    Unhosted,
    apply_plan,
    failover_messages,
    failover_report,
    plan_group,
)

A = ipaddress.ip_interface


def cfg(
    *nics: InterfaceConfig, failback: bool = True, groups: tuple[str, ...] = ("g",)
) -> IpmpConfig:
    return IpmpConfig(
        interfaces={n.name: n for n in nics},
        groups={g: GroupConfig(g, failback) for g in groups},
    )


def nic(name: str, *addrs: str, group: str | None = "g", standby: bool = False) -> InterfaceConfig:
    return InterfaceConfig(
        name=name,
        path=Path(f"/etc/rcm/interfaces/{name}.toml"),
        group=group,
        addresses=tuple(A(a) for a in addrs),
        standby=standby,
    )


V4 = "192.0.2.10/24"
V6 = "2001:db8::10/64"
V4_LINE = "moving addresses from failed IPv4 interfaces: "
V6_LINE = "moving addresses from failed IPv6 interfaces: "
NO_ALT = "(couldn't move; no alternative interface)"


# -- examples -----------------------------------------------------------------------


def test_all_home_nothing_to_do() -> None:
    c = cfg(nic("nic0", V4), nic("nic1"))
    assert plan_group(c, "g", {"nic0", "nic1"}, {A(V4): "nic0"}) == Plan()


def test_failover_to_the_other_member() -> None:
    c = cfg(nic("nic0", V4, V6), nic("nic1"))
    plan = plan_group(c, "g", {"nic1"}, {A(V4): "nic0", A(V6): "nic0"})
    assert plan == Plan(moves=(Move(A(V4), "nic0", "nic1"), Move(A(V6), "nic0", "nic1")))
    assert failover_messages(failover_report(plan, c, {"nic1"})) == [
        "moving addresses from failed IPv4 interfaces: nic0 (moved to nic1)",
        "moving addresses from failed IPv6 interfaces: nic0 (moved to nic1)",
    ]


def test_missing_at_boot_addresses_on_no_nic() -> None:
    c = cfg(nic("hme0", V4, V6), nic("hme1"))
    plan = plan_group(c, "g", {"hme1"}, {})
    assert plan.moves == (Move(A(V4), None, "hme1"), Move(A(V6), None, "hme1"))
    assert failover_messages(failover_report(plan, c, {"hme1"})) == [
        "moving addresses from failed IPv4 interfaces: hme0 (moved to hme1)",
        "moving addresses from failed IPv6 interfaces: hme0 (moved to hme1)",
    ]


def test_no_alternative_interface() -> None:
    c = cfg(nic("hme0", V4, V6), nic("hme1"))
    plan = plan_group(c, "g", set(), {A(V4): "hme0"})
    assert plan == Plan(unhosted=(Unhosted(A(V4), "hme0", "hme0"), Unhosted(A(V6), "hme0", None)))
    assert failover_messages(failover_report(plan, c, set())) == [
        V4_LINE + "hme0 " + NO_ALT,
        V6_LINE + "hme0 " + NO_ALT,
    ]


def test_failback_true_returns_home() -> None:
    c = cfg(nic("nic0", V4), nic("nic1"))
    plan = plan_group(c, "g", {"nic0", "nic1"}, {A(V4): "nic1"})
    assert plan.moves == (Move(A(V4), "nic1", "nic0"),)
    # Failback leaves a healthy NIC: not a failover, nothing to report.
    assert failover_report(plan, c, {"nic0", "nic1"}) == {}
    assert failover_messages({}) == []


def test_failback_false_stays_while_usable() -> None:
    c = cfg(nic("nic0", V4), nic("nic1"), failback=False)
    assert plan_group(c, "g", {"nic0", "nic1"}, {A(V4): "nic1"}) == Plan()
    # ...but goes home when the NIC holding it fails,
    assert plan_group(c, "g", {"nic0"}, {A(V4): "nic1"}).moves == (Move(A(V4), "nic1", "nic0"),)
    # and when it is on no NIC at all.
    assert plan_group(c, "g", {"nic0", "nic1"}, {}).moves == (Move(A(V4), None, "nic0"),)


def test_home_down_stays_on_the_usable_nic_it_is_on() -> None:
    c = cfg(nic("a", V4), nic("b"), nic("c"))
    assert plan_group(c, "g", {"b", "c"}, {A(V4): "c"}) == Plan()


def test_failover_prefers_a_standby() -> None:
    """Solaris: a standby is there to take over from a failed active member."""
    c = cfg(
        nic("a", "192.0.2.1/24", "192.0.2.2/24"),
        nic("b", "192.0.2.4/24"),
        nic("c"),
        nic("s", standby=True),
    )
    hosted = {A("192.0.2.1/24"): "a", A("192.0.2.2/24"): "a", A("192.0.2.4/24"): "b"}
    plan = plan_group(c, "g", {"b", "c", "s"}, hosted)
    assert [(m.address, m.dst) for m in plan.moves] == [
        (A("192.0.2.1/24"), "s"),
        (A("192.0.2.2/24"), "s"),
    ]


def test_without_a_standby_fewest_then_name() -> None:
    c = cfg(
        nic("a", "192.0.2.1/24", "192.0.2.2/24", "192.0.2.3/24"),
        nic("b", "192.0.2.4/24"),
        nic("c"),
        nic("s", standby=True),
    )
    hosted = {
        A("192.0.2.1/24"): "a",
        A("192.0.2.2/24"): "a",
        A("192.0.2.3/24"): "a",
        A("192.0.2.4/24"): "b",
    }
    plan = plan_group(c, "g", {"b", "c"}, hosted)  # the standby s is down too
    # c has 0, b has 1: .1 -> c (c=1, b=1), .2 -> b (name), .3 -> c.
    assert [(m.address, m.dst) for m in plan.moves] == [
        (A("192.0.2.1/24"), "c"),
        (A("192.0.2.2/24"), "b"),
        (A("192.0.2.3/24"), "c"),
    ]
    msgs = failover_messages(failover_report(plan, c, {"b", "c"}))
    assert msgs == ["moving addresses from failed IPv4 interfaces: a (moved to b), a (moved to c)"]


def test_an_idle_standby_hosts_nothing() -> None:
    c = cfg(nic("a", V4), nic("b", V6), nic("s", standby=True))
    assert plan_group(c, "g", {"a", "b", "s"}, {A(V4): "a", A(V6): "b"}) == Plan()
    # at boot, nothing hosted yet: every address goes home, none to the standby
    plan = plan_group(c, "g", {"a", "b", "s"}, {})
    assert {m.dst for m in plan.moves} == {"a", "b"}


def test_standby_used_only_when_nothing_else() -> None:
    c = cfg(nic("a", V4), nic("b", V6), nic("s", standby=True))
    plan = plan_group(c, "g", {"s"}, {A(V4): "a", A(V6): "b"})
    assert {m.dst for m in plan.moves} == {"s"}
    assert failover_messages(failover_report(plan, c, {"s"})) == [
        "moving addresses from failed IPv4 interfaces: a (moved to s)",
        "moving addresses from failed IPv6 interfaces: b (moved to s)",
    ]
    # When a comes back, both return home (b's address stays on s: b still down).
    plan2 = plan_group(c, "g", {"a", "s"}, apply_plan(plan, {A(V4): "a", A(V6): "b"}))
    assert plan2.moves == (Move(A(V4), "s", "a"),)


def test_several_failed_nics_joined_by_comma() -> None:
    c = cfg(nic("nic0", "192.0.2.1/24"), nic("nic1", "192.0.2.2/24"), nic("nic2"))
    plan = plan_group(c, "g", {"nic2"}, {A("192.0.2.1/24"): "nic0", A("192.0.2.2/24"): "nic1"})
    assert failover_messages(failover_report(plan, c, {"nic2"})) == [
        "moving addresses from failed IPv4 interfaces: nic0 (moved to nic2), nic1 (moved to nic2)"
    ]


def test_messages_from_plain_pairs() -> None:
    report = {
        "nic1": [(A(V6), None)],
        "nic0": iter([(A(V4), "nic2"), (A("192.0.2.11/24"), None)]),  # any iterable
    }
    assert failover_messages(report) == [
        "moving addresses from failed IPv4 interfaces: nic0 (moved to nic2), "
        "nic0 (couldn't move; no alternative interface)",
        V6_LINE + "nic1 " + NO_ALT,
    ]
    assert failover_messages({"nic0": []}) == []


def test_hosted_matched_by_ip_not_prefix() -> None:
    c = cfg(nic("nic0", V4), nic("nic1"))
    assert plan_group(c, "g", {"nic0", "nic1"}, {A("192.0.2.10/32"): "nic0"}) == Plan()
    assert plan_group(c, "g", {"nic0", "nic1"}, {A(V4).ip: "nic0"}) == Plan()


def test_usable_non_members_are_ignored() -> None:
    c = cfg(nic("a", V4), nic("x", group="h"), nic("y", group=None), groups=("g", "h"))
    plan = plan_group(c, "g", {"x", "y"}, {A(V4): "a"})
    assert plan == Plan(unhosted=(Unhosted(A(V4), "a", "a"),))


def test_address_on_a_non_member_is_taken_from_it() -> None:
    c = cfg(nic("a", V4), nic("y", group=None))
    assert plan_group(c, "g", {"a", "y"}, {A(V4): "y"}).moves == (Move(A(V4), "y", "a"),)


def test_unknown_group_raises_keyerror() -> None:
    with pytest.raises(KeyError):
        plan_group(cfg(), "nope", set(), {})


# -- properties -----------------------------------------------------------------------

NAMES = ["n0", "n1", "n2", "n3", "n4", "n5"]
GROUPS = ["g", "h"]


@st.composite
def scenarios(draw: st.DrawFn):
    pool = [A(f"192.0.2.{i}/24") for i in range(1, 13)] + [
        A(f"2001:db8::{i:x}/64") for i in range(1, 7)
    ]
    pool = draw(st.permutations(pool))
    nics = []
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=6)):
        group = draw(st.sampled_from([*GROUPS, None]))
        standby = group is not None and draw(st.booleans())
        k = 0 if standby else draw(st.integers(0, min(4, len(pool))))
        addrs, pool = tuple(pool[:k]), pool[k:]
        nics.append(InterfaceConfig(name, Path(f"/x/{name}.toml"), group, addrs, (), standby))
    config = IpmpConfig(
        interfaces={n.name: n for n in nics},
        groups={g: GroupConfig(g, draw(st.booleans())) for g in GROUPS},
    )
    every = [a for n in nics for a in n.addresses] + pool  # pool: unconfigured addresses
    places = st.sampled_from([*NAMES, "ghost"])
    hosted = draw(st.dictionaries(st.sampled_from(every), places) if every else st.just({}))
    usable = draw(st.sets(st.sampled_from([*NAMES, "ghost"])))
    group = draw(st.sampled_from(GROUPS))
    return config, group, usable, hosted


def _members(config: IpmpConfig, group: str) -> set[str]:
    return {n.name for n in config.members(group)}


@settings(max_examples=300)
@given(scenarios())
def test_every_address_ends_on_one_usable_member(s) -> None:
    config, group, usable, hosted = s
    plan = plan_group(config, group, usable, hosted)
    ok = _members(config, group) & usable
    after = apply_plan(plan, hosted)
    addrs = config.data_addresses(group)
    if ok:
        assert plan.unhosted == ()
        for a, _home in addrs:
            assert after[a.ip] in ok
    else:
        assert plan.moves == ()
        assert [(u.address, u.home) for u in plan.unhosted] == addrs


@settings(max_examples=300)
@given(scenarios())
def test_idempotent(s) -> None:
    config, group, usable, hosted = s
    plan = plan_group(config, group, usable, hosted)
    again = plan_group(config, group, usable, apply_plan(plan, hosted))
    assert again.moves == ()
    assert again.unhosted == plan.unhosted


@settings(max_examples=300)
@given(scenarios())
def test_failback_puts_addresses_home(s) -> None:
    config, group, usable, hosted = s
    after = apply_plan(plan_group(config, group, usable, hosted), hosted)
    for a, home in config.data_addresses(group):
        if home in usable and config.groups[group].failback:
            assert after[a.ip] == home


@settings(max_examples=300)
@given(scenarios())
def test_moves_are_sane(s) -> None:
    config, group, usable, hosted = s
    plan = plan_group(config, group, usable, hosted)
    members = _members(config, group)
    mine = {a.ip for a, _ in config.data_addresses(group)}
    by_ip = apply_plan(Plan(), hosted)
    moved = [m.address.ip for m in plan.moves]
    assert len(moved) == len(set(moved))
    for m in plan.moves:
        assert m.dst in usable and m.dst in members  # never to an unusable NIC
        assert m.address.ip in mine  # other groups' addresses are never touched
        assert m.src == by_ip.get(m.address.ip) and m.src != m.dst
    # Addresses that are not this group's stay exactly where they were.
    after = apply_plan(plan, hosted)
    for ip, where in by_ip.items():
        if ip not in mine:
            assert after[ip] == where


@settings(max_examples=300)
@given(scenarios())
def test_stays_put_unless_a_rule_says_move(s) -> None:
    """An address on a usable member moves only to fail back home."""
    config, group, usable, hosted = s
    plan = plan_group(config, group, usable, hosted)
    ok = _members(config, group) & usable
    for m in plan.moves:
        if m.src in ok:
            assert config.groups[group].failback
            assert m.dst == config.home_of(m.address)


@settings(max_examples=300)
@given(scenarios())
def test_deterministic_and_messages_well_formed(s) -> None:
    config, group, usable, hosted = s
    plan = plan_group(config, group, usable, hosted)
    assert plan == plan_group(config, group, set(usable), dict(reversed(list(hosted.items()))))
    lines = failover_messages(failover_report(plan, config, usable))
    assert len(lines) <= 2
    for line in lines:
        assert line.startswith(
            (
                "moving addresses from failed IPv4 interfaces: ",
                "moving addresses from failed IPv6 interfaces: ",
            )
        )
