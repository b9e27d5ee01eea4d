"""``rcm-lab-demo``: watch rcm move a live service's addresses off a NIC and back.

A non-interactive walk through the acceptance points in a throwaway lab: it lists the
attachment points, unconfigures and configures NICs with cfgadm, pulls a NIC out behind rcm's
back, and restarts rcmd with a NIC missing, while a client keeps a TCP conversation going with
the host's data address.  After each step it prints what a user would see: cfgadm's output and
exit status, the addresses on each NIC, which MAC the client reaches 192.0.2.10 through, and
how many round trips the conversation has made.

It removes the lab when it ends, fails, or is interrupted (Ctrl-C, SIGTERM, SIGHUP): the
signals are turned into exceptions so that ``with Lab()`` unwinds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from .conversation import Conversation
from .topology import Lab, LabError, raise_on_signals, wait_until

PROG = "rcm-lab-demo"
V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"


def say(text: str = "") -> None:
    """Print at once: the demo is watched live, often through a pipe."""
    print(text, flush=True)


class Demo:
    """The walk-through; one method per acceptance point."""

    def __init__(self, lab: Lab, pause: float) -> None:
        self.lab = lab
        self.pause = pause
        self.convs: list[Conversation] = []
        self.macs: dict[str, str] = {}

    # -- what a user sees ---------------------------------------------------
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
                addrs = " ".join(self.lab.addresses(link, ns)) or "(none)"
                state = "up" if self.lab.link_up(link, ns) else "down"
                say(f"    {ns:8} {link:5} {state:4} {addrs}")

    def neighbour(self, addr: str = "192.0.2.10", expect: str | None = None) -> None:
        """Which MAC (and so which NIC) the client sends ``addr``'s traffic to."""
        if expect is not None:
            wait_until(lambda: self.lab.client_neigh(addr) == self.macs[expect], 1.0)
        mac = self.lab.client_neigh(addr)
        owner = next((n for n, m in self.macs.items() if m == mac), "?")
        say(f"    client's neighbour entry for {addr}: {mac} ({owner})")

    def conversation(self, settle: float | None = None) -> None:
        """Let the conversations run a moment, then report them."""
        time.sleep(self.pause if settle is None else settle)
        for conv in self.convs:
            conv.wait_for_more(5, 2.0)
            say(f"    conversation {conv.describe()}")

    def wait_addresses(self, nic: str, cidrs: list[str], timeout: float = 5.0) -> None:
        t0 = time.monotonic()
        ok = self.lab.wait_for_addresses(nic, cidrs, timeout=timeout)
        took = time.monotonic() - t0
        if ok:
            say(f"    {', '.join(cidrs)} on {nic} after {took:.2f}s")
        else:
            say(f"    !! {', '.join(cidrs)} not on {nic} after {timeout:g}s")

    # -- the walk-through -------------------------------------------------
    def run(self) -> None:
        lab = self.lab
        say("== the lab ==")
        for role, name in lab.ns.items():
            say(f"  {role:8} namespace {name}")
        say(f"  configuration in {lab.config_dir}:")
        for path in sorted(lab.config_dir.rglob("*.toml")):
            say(
                f"    {path.relative_to(lab.config_dir)}: "
                + "; ".join(line for line in path.read_text().splitlines() if line.strip())
            )
        self.macs = {nic: lab.mac("host", nic) for nic in lab.nics}

        say("\n== starting rcmd in the host namespace ==")
        lab.start_rcmd()
        say(f"  rcmd is listening on {lab.socket_path}")
        self.wait_addresses("nic0", [V4_10, V6_10])
        self.wait_addresses("nic1", [V4_11, V6_11])
        self.addresses()
        for addr in ("192.0.2.10", "2001:db8::10"):
            try:
                self.convs.append(Conversation(lab, addr).start())
                say(f"  client {addr}: TCP conversation started (a numbered line every 50 ms)")
            except LabError as e:
                say(f"  !! no conversation with {addr}: {e}")
        self.conversation()

        say("\n== 1. what cfgadm lists ==")
        self.cfgadm("-l")
        self.cfgadm("-lv")

        say("\n== 2. unconfigure nic0: its data addresses move to nic1 ==")
        self.cfgadm("-c", "unconfigure", "net:nic0")
        self.addresses()
        self.neighbour(expect="nic1")
        self.conversation()

        say("\n== 4. configure nic0: it comes back and its addresses fail back ==")
        self.cfgadm("-c", "configure", "net:nic0")
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation()

        say("\n== 3. the last working member of group g is protected ==")
        self.cfgadm("-c", "unconfigure", "net:nic0")
        self.cfgadm("-c", "unconfigure", "net:nic1")
        say("  -f overrides the veto (the service goes down until a NIC returns):")
        self.cfgadm("-f", "-c", "unconfigure", "net:nic1")
        self.addresses()
        say("  nic0 returns and takes every data address of the group:")
        self.cfgadm("-c", "configure", "net:nic0")
        self.addresses()
        self.cfgadm("-c", "configure", "net:nic1")
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation(settle=1.0)

        say("\n== 5. surprise: nic0 pulled out without cfgadm ==")
        self.move("nic0", "host", "holding")
        self.wait_addresses("nic1", [V4_10, V6_10])
        self.addresses()
        self.neighbour(expect="nic1")
        self.conversation()
        say("  nic0 plugged back in:")
        self.move("nic0", "holding", "host")
        self.wait_addresses("nic0", [V4_10, V6_10])
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation()

        say("\n== 6. rcmd starts while nic0 is missing ==")
        say("  stopping rcmd")
        lab.stop_rcmd()
        self.move("nic0", "host", "holding")
        say("  starting rcmd")
        lab.start_rcmd()
        self.wait_addresses("nic1", [V4_10, V6_10])
        wait_until(lambda: "moving addresses" in lab.rcmd_log(), 3.0)
        for line in lab.rcmd_log().splitlines():
            if "moving addresses" in line:
                say(f"    rcmd log: {line}")
        self.addresses()
        self.conversation()
        say("  nic0 returns:")
        self.move("nic0", "holding", "host")
        self.wait_addresses("nic0", [V4_10, V6_10])
        self.addresses()
        self.neighbour(expect="nic0")
        self.conversation()

        say("\n== at the end ==")
        self.cfgadm("-l")
        for conv in self.convs:
            state = "was broken" if conv.broken() else "never dropped"
            say(
                f"  conversation with {conv.address}: {conv.round_trips()} round trips, "
                f"longest pause {conv.max_gap() * 1000:.0f} ms, {state}"
            )


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
    say(f"lab removed (namespaces deleted, processes stopped); {time.monotonic() - t0:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
