"""The prober's rounds without a network: which answers count, when a member
fails and is repaired, and what a late or misdirected reply does.

The probe socket is replaced by a stand-in that records what each round
sends and hands back the answers a test chooses (the real socket, its
packets and the kernel's replies are tested in test_lab_probeio.py and
test_lab_probe.py).  Rounds are driven by hand, one call per round, as the
probing thread's loop makes them: read the replies queued, then the round.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from rcm_ipmp.probing import (
    FAILURE_AFTER,
    REPAIR_AFTER,
    STRAYS_EVERY,
    ProbeConfig,
    Prober,
)

from rcm.model import Event

TARGET = "192.0.2.1"
INDEX = {"nic0": 10, "nic1": 11}


class FakeEndpoint:
    def __init__(self, ifname: str, source: str) -> None:
        self.ifindex = INDEX[ifname]
        self.key = (self.ifindex, socket.inet_aton(source))

    def header(self, target: str) -> Any:
        return (self.key, target)


class FakeIO:
    """ProbeIO's interface: what each round sent, and the replies to hand
    over at the next read."""

    v6 = False
    ident = 0x1234

    def __init__(self) -> None:
        self.seq = -1
        self.rounds: list[tuple[int, list[Any]]] = []  # (seq, headers)
        self.queued: list[tuple[tuple[int, int, bytes], tuple[int, int]]] = []

    def endpoint(self, ifname: str, source: str) -> FakeEndpoint:
        return FakeEndpoint(ifname, source)

    def prepare(self, seq: int) -> None:
        self.seq = seq

    def send(self, headers: list[Any]) -> tuple[int, dict[int, OSError]]:
        self.rounds.append((self.seq, list(headers)))
        return 1_000_000_000, {}

    def collect(self, into: dict[Any, Any], listen: int) -> list[Any]:
        into.update(self.queued)
        self.queued.clear()
        return []

    def answer(self, seq: int, key: tuple[int, bytes], rtt_ms: int = 2) -> None:
        """A reply to round ``seq`` arriving on ``key``'s NIC, to its address."""
        self.queued.append(((seq, *key), (1, rtt_ms * 1_000_000)))


class Driver:
    def __init__(self, names: Iterable[str] = ("nic0", "nic1")) -> None:
        self.io = FakeIO()
        self.events: list[Event] = []
        self.prober = Prober(routes=lambda: [], local_addresses=lambda: set())
        self.prober._io_for = lambda v6: self.io  # type: ignore[method-assign]
        self.prober._io[False] = self.io  # type: ignore[assignment]
        self.prober.configure(
            ProbeConfig(n, "g", f"192.0.2.{10 + i}", 700, (TARGET,)) for i, n in enumerate(names)
        )
        self.prober._apply_config(0.0)
        (self.cohort,) = self.prober._cohorts.values()
        self.now = 0.0

    def key(self, name: str) -> tuple[int, bytes]:
        endpoint = self.prober._members[name].endpoint
        assert endpoint is not None
        return endpoint.key  # type: ignore[return-value]

    def round(self, answering: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """One round; the members in ``answering`` answer it before the next
        one.  Returns the events posted in this round, (ifname, state)."""
        before = len(self.events)
        self.prober._read_replies()
        self.prober._round(self.cohort, self.now, self.events.append)
        self.now += 0.1
        seq, headers = self.io.rounds[-1]
        for name in self.prober._members if answering is None else answering:
            if (self.key(name), TARGET) in headers:
                self.io.answer(seq, self.key(name))
        return [(e.properties["IFNAME"], e.properties["STATE"]) for e in self.events[before:]]

    def probe(self, name: str) -> Any:
        return self.prober._members[name].probe


def test_answered_rounds_make_a_member_ok_and_count_round_trips() -> None:
    d = Driver()
    for _ in range(5):
        assert d.round() == []
    p = d.probe("nic0")
    assert p.state == "ok" and p.sent == 5 and p.answered == 4 and p.lost == 0
    assert list(p.rtts)[-1] > 0  # from the kernel's receive time and the round's send time
    assert len(d.io.rounds) == 5 and all(len(h) == 2 for _seq, h in d.io.rounds)


def test_five_lost_rounds_fail_a_member_and_ten_answered_repair_it() -> None:
    d = Driver()
    for _ in range(3):
        d.round()
    posted: list[tuple[str, str]] = []
    rounds = 0
    while not posted:
        posted = d.round(answering=("nic1",))
        rounds += 1
    # The fifth lost probe is judged two rounds after it went.
    assert posted == [("nic0", "failed")] and rounds == FAILURE_AFTER + 2
    assert d.probe("nic1").state == "ok" and d.probe("nic0").lost == FAILURE_AFTER
    posted, rounds = [], 0
    while not posted:
        posted = d.round()
        rounds += 1
    # An answer counts as the next round goes: the tenth in a row, one
    # round after it was sent (the two losses still pending are judged too).
    assert posted == [("nic0", "ok")] and rounds == REPAIR_AFTER + 1


def test_a_reply_one_round_late_counts_and_one_later_does_not() -> None:
    d = Driver(["nic0"])
    d.round()
    seq0 = d.io.rounds[-1][0]
    d.round(answering=())  # round 0's reply has not come yet...
    d.io.answer(seq0, d.key("nic0"))  # ...it comes before round 2: in time
    d.round(answering=())
    assert d.probe("nic0").answered == 1 and d.probe("nic0").lost == 0
    seq2 = d.io.rounds[-1][0]
    d.round(answering=())
    d.round(answering=())  # round 2 is judged now: lost
    d.io.answer(seq2, d.key("nic0"))  # too late
    d.round(answering=())
    p = d.probe("nic0")
    assert p.answered == 1 and p.lost == 3


def test_a_reply_on_another_nic_or_to_another_address_is_nobodys() -> None:
    d = Driver()
    d.round()
    for _ in range(FAILURE_AFTER + 2):
        seq = d.io.rounds[-1][0]
        # nic0's reply comes back on nic1's NIC, or to nic1's address on nic0
        d.io.answer(seq, (INDEX["nic1"], d.key("nic0")[1]))
        d.io.answer(seq, (INDEX["nic0"], d.key("nic1")[1]))
        d.round(answering=("nic1",))
    assert d.probe("nic0").state == "failed"
    assert d.probe("nic1").state == "ok" and d.probe("nic1").lost == 0
    # the stray answers do not pile up
    assert len(d.prober._answers[False]) <= 4 * 2 + 64


def test_a_member_configured_away_is_not_judged_by_its_last_rounds() -> None:
    d = Driver()
    d.round()
    d.round(answering=())
    d.prober.configure([ProbeConfig("nic1", "g", "192.0.2.11", 700, (TARGET,))])
    d.prober._apply_config(d.now)
    gone = d.prober._members.get("nic0")
    assert gone is None
    for _ in range(FAILURE_AFTER + 2):
        assert d.round(answering=()) in ([], [("nic1", "failed")])
    assert all(e.properties["IFNAME"] == "nic1" for e in d.events)
    assert all(len(h) == 1 for _seq, h in d.io.rounds[2:])


def test_late_answers_are_swept_before_their_sequence_number_comes_again() -> None:
    d = Driver(["nic0"])
    d.round()
    seq = d.io.rounds[-1][0]
    for _ in range(3):
        d.round()
    d.io.answer(seq, d.key("nic0"))  # long after its round was judged
    d.round()
    assert (seq, *d.key("nic0")) in d.prober._answers[False]  # kept for now: harmless
    d.prober._seq[False] = STRAYS_EVERY - 1  # the next round's number is a sweep's
    d.round()
    assert (seq, *d.key("nic0")) not in d.prober._answers[False]
    assert d.probe("nic0").state == "ok"
