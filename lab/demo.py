"""``rcm-lab-demo``: watch rcm move a live service's addresses off a NIC and back.

A non-interactive walk through the acceptance points in a throwaway lab: it lists the
attachment points, unconfigures and configures NICs with cfgadm, pulls a NIC out behind rcm's
back, and restarts rcmd with a NIC missing, while a client keeps a TCP conversation going with
the host's data address.  After each step it prints what a user would see: cfgadm's output and
exit status, the addresses on each NIC, which MAC the client reaches 192.0.2.10 through, and
how many round trips the conversation has made.  The steps are numbered in the order they
run.

It removes the lab when it ends, fails, or is interrupted (Ctrl-C, SIGTERM, SIGHUP): the
signals are turned into exceptions so that ``with Lab()`` unwinds.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
import time
from collections.abc import Sequence

from .conversation import Conversation
from .topology import Lab, LabError, raise_on_signals, wait_until

PROG = "rcm-lab-demo"
V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"
ROLES = {
    "host": "runs rcmd; nic0 and nic1 are its NICs, in IPMP group g",
    "switch": "a bridge joining the host's NICs and the client",
    "client": "talks TCP to the host's data addresses",
    "holding": "where an unconfigured (or pulled) NIC waits",
}


def say(text: str = "") -> None:
    """Print at once: the demo is watched live, often through a pipe."""
    print(text, flush=True)


def by_family(cidrs: list[str]) -> list[str]:
    """IPv4 addresses, then IPv6, each in address order: as a person scans them."""
    keys = {c: ipaddress.ip_interface(c) for c in cidrs}
    return sorted(cidrs, key=lambda c: (keys[c].version, keys[c]))


RCMD_LOG_PREFIX = re.compile(r"^rcmd: [A-Z]+ [\w.]+: ")
"""What rcmd's log format puts before a message (``rcmd: WARNING rcm.handler.ipmp: ``)."""


class Demo:
    """The walk-through: a preface, numbered steps in the order they run, a summary."""

    def __init__(self, lab: Lab, pause: float) -> None:
        self.lab = lab
        self.pause = pause
        self.convs: list[Conversation] = []
        self.macs: dict[str, str] = {}
        self.steps: list[str] = []
        """The titles of the numbered steps so far."""
        self.longest: dict[str, tuple[float, int]] = {}
        """Per conversation address: the longest pause so far and the number of the step it
        happened in (0: before the first)."""

    def run(self) -> None:
        self.show_lab()
        self.start_rcmd()
        self.list_aps()
        self.unconfigure_and_back()
        self.last_member()
        self.surprise_removal()
        self.missing_at_start()
        self.summary()

    # -- what a user sees ---------------------------------------------------
    def heading(self, title: str) -> None:
        say(f"\n== {title} ==")

    def step(self, title: str) -> None:
        """A numbered heading; numbers follow the order the steps run in."""
        self.steps.append(title)
        self.heading(f"{len(self.steps)}. {title}")

    def cfgadm(self, *args: str) -> int:
        """Run cfgadm and print it as a terminal would show it."""
        say(f"  $ cfgadm {' '.join(args)}")
        r = self.lab.cfgadm(*args)
        for line in (r.stdout + r.stderr).splitlines():
            say(f"    {line}")
        say(f"    (exit status {r.returncode})")
        return r.returncode

    def move(self, nic: str, src: str, dst: str) -> None:
        """Move a NIC between namespaces with plain ``ip`` (no cfgadm), showing the command."""
        say(f"  $ ip -n {self.lab.ns[src]} link set {nic} netns {self.lab.ns[dst]}")
        self.lab.move(nic, src, dst)

    def addresses(self) -> None:
        """Data addresses per NIC, in the host and in the holding namespace."""
        for ns in ("host", "holding"):
            for link in self.lab.links_in(ns):
                addrs = " ".join(by_family(self.lab.addresses(link, ns))) or "(none)"
                state = "up" if self.lab.link_up(link, ns) else "down"
                say(f"    {ns:8} {link:5} {state:4} {addrs}")

    def neighbour(self, addr: str = "192.0.2.10", expect: str | None = None) -> None:
        """Which MAC (and so which NIC) the client sends ``addr``'s traffic to."""
        if expect is not None:
            wait_until(lambda: self.lab.client_neigh(addr) == self.macs[expect], 1.0)
        mac = self.lab.client_neigh(addr)
        owner = next((n for n, m in self.macs.items() if m == mac), "?")
        say(f"    the client reaches {addr} through {mac} ({owner})")

    def conversation(self, settle: float | None = None) -> None:
        """Let the conversations run a moment, then report them."""
        time.sleep(self.pause if settle is None else settle)
        for conv in self.convs:
            conv.wait_for_more(5, 2.0)
            say(f"    {self.conversation_line(conv)}")

    def conversation_line(self, conv: Conversation) -> str:
        """``conversation with 192.0.2.10: 56 round trips, still talking, longest
        pause so far 54 ms (in this step)``: the client keeps only its longest
        pause, so the line says in which step that pause happened."""
        gap = conv.max_gap()
        if gap > self.longest.get(conv.address, (0.0, 0))[0]:
            self.longest[conv.address] = (gap, len(self.steps))
        step = self.longest[conv.address][1]
        when = ""
        if step:
            when = " (in this step)" if step == len(self.steps) else f" (in step {step})"
        text = (
            f"conversation with {conv.address}: {conv.round_trips()} round trips,"
            f" {conversation_state(conv)}, longest pause so far {gap * 1000:.0f} ms{when}"
        )
        error = conv.last_error()
        return text + (f"; last problem: {error}" if error else "")

    def wait_addresses(self, nic: str, cidrs: list[str], timeout: float = 5.0) -> None:
        t0 = time.monotonic()
        ok = self.lab.wait_for_addresses(nic, cidrs, timeout=timeout)
        took = time.monotonic() - t0
        which = " and ".join(cidrs)
        if ok:
            say(f"    {which} are on {nic} (waited {took:.2f} s)")
        else:
            say(f"    !! {which} are still not on {nic} after {timeout:g} s")

    # -- the walk-through -------------------------------------------------
    def show_lab(self) -> None:
        lab = self.lab
        self.heading("the lab")
        say("  network namespaces, made for this run and removed at the end:")
        for role, name in lab.ns.items():
            say(f"  {role:8} {name:28} {ROLES.get(role, '')}")
        say(f"  configuration in {lab.config_dir}:")
        for path in sorted(lab.config_dir.rglob("*.toml")):
            say(
                f"    {path.relative_to(lab.config_dir)}: "
                + "; ".join(line for line in path.read_text().splitlines() if line.strip())
            )
        self.macs = {nic: lab.mac("host", nic) for nic in lab.nics}

    def start_rcmd(self) -> None:
        self.heading("starting rcmd in the host namespace")
        self.lab.start_rcmd()
        say(f"  rcmd is listening on {self.lab.socket_path}")
        self.wait_addresses("nic0", [V4_10, V6_10])
        self.wait_addresses("nic1", [V4_11, V6_11])
        self.addresses()
        for addr in ("192.0.2.10", "2001:db8::10"):
            try:
                self.convs.append(Conversation(self.lab, addr).start())
                say(f"  client {addr}: TCP conversation started (a numbered line every 50 ms)")
            except LabError as e:
                say(f"  !! no conversation with {addr}: {e}")
        self.conversation()

    def list_aps(self) -> None:
        self.step("what cfgadm lists")
        self.cfgadm("-l")
        self.cfgadm("-lv")

    def unconfigure_and_back(self) -> None:
        self.step("unconfigure nic0: its data addresses move to nic1")
        self.cfgadm("-c", "unconfigure", "net:nic0")
        self.addresses()
        self.neighbour(expect="nic1")
        self.conversation()

        self.step("configure nic0: it comes back and its addresses fail back")
        self.cfgadm("-c", "configure", "net:nic0")
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation()

    def last_member(self) -> None:
        self.step("the last working member of group g is protected")
        say("  nic0 leaves; its addresses move to nic1:")
        self.cfgadm("-c", "unconfigure", "net:nic0")
        say("  nic1 is now the last working member: cfgadm refuses, saying who vetoes and why:")
        self.cfgadm("-c", "unconfigure", "net:nic1")
        say("  -f overrides the veto: the service is down until a NIC returns")
        say("  (the client's TCP keeps retransmitting meanwhile):")
        self.cfgadm("-f", "-c", "unconfigure", "net:nic1")
        self.addresses()
        say("  nic0 returns and takes every data address of the group:")
        self.cfgadm("-c", "configure", "net:nic0")
        self.addresses()
        say("  nic1 returns and takes its own addresses back:")
        self.cfgadm("-c", "configure", "net:nic1")
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation(settle=1.0)

    def surprise_removal(self) -> None:
        self.step("surprise: nic0 pulled out without cfgadm")
        self.move("nic0", "host", "holding")
        self.wait_addresses("nic1", [V4_10, V6_10])
        self.addresses()
        self.neighbour(expect="nic1")
        self.conversation()
        say("  nic0 plugged back in:")
        self.nic0_returns()

    def missing_at_start(self) -> None:
        lab = self.lab
        self.step("rcmd starts while nic0 is missing")
        say("  stopping rcmd")
        lab.stop_rcmd()
        self.move("nic0", "host", "holding")
        say("  starting rcmd")
        lab.start_rcmd()
        self.wait_addresses("nic1", [V4_10, V6_10])
        wait_until(lambda: "moving addresses" in lab.rcmd_log(), 3.0)
        for line in lab.rcmd_log().splitlines():
            if "moving addresses" in line:
                say(f"    rcmd logged: {RCMD_LOG_PREFIX.sub('', line)}")
        self.addresses()
        self.conversation()
        say("  nic0 returns:")
        self.nic0_returns()

    def nic0_returns(self) -> None:
        """Move nic0 back into the host and show its addresses failing back."""
        self.move("nic0", "holding", "host")
        self.wait_addresses("nic0", [V4_10, V6_10])
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation()

    def summary(self) -> None:
        self.heading("at the end")
        self.cfgadm("-l")
        for conv in self.convs:
            state = "was broken" if conv.broken() else "never dropped"
            gap, step = self.longest.get(conv.address, (conv.max_gap(), 0))
            during = f" (in step {step}: {self.steps[step - 1]})" if step else ""
            say(
                f"  conversation with {conv.address}: {conv.round_trips()} round trips, "
                f"{state}; longest pause {gap * 1000:.0f} ms{during}"
            )


def conversation_state(conv: Conversation) -> str:
    """The conversation's state in words."""
    st = conv.status()
    if st.get("reset"):
        return "reset"
    if st.get("closed"):
        return "closed"
    if conv.finished():
        return "ended"
    if st.get("stalled"):
        return "waiting for an echo"
    return "still talking"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when it ran to the end, 1 on error, 128+N on signal N."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pause",
        type=float,
        default=0.5,
        help="seconds to let the conversation run after each step",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(f"{PROG}: must run as root (it creates network namespaces)", file=sys.stderr)
        return 1
    raise_on_signals()
    t0 = time.monotonic()
    status = 0
    try:
        with Lab() as lab:
            Demo(lab, args.pause).run()
            say("\n== removing the lab ==")
    except KeyboardInterrupt:
        say("\ninterrupted")
        status = 130
    except SystemExit as e:  # SIGTERM/SIGHUP, via raise_on_signals
        say(f"\nstopped by signal {int(e.code or 0) - 128}")
        status = int(e.code or 1)
    except LabError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        status = 1
    say("lab removed (namespaces deleted, processes stopped)")
    took = time.monotonic() - t0
    say(f"the whole demo, building and removing the lab included, took {took:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
