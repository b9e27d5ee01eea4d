"""Soak: N seeded random operations on a real rcmd in the lab, the invariant checked after each.

Not a benchmark of speed: a search for states rcm does not get back from.  The lab
(lab/topology.py, real network namespaces) has three NICs in IPMP group ``g``: nic0 homes
192.0.2.10/24 and 2001:db8::10/64, nic1 homes 192.0.2.11/24 and 2001:db8::11/64, nic2 is a
standby with no addresses of its own.  A third-party handler that misbehaves on request
(bench/soak_faults, loaded through its ``rcm.plugins`` entry point like any installed plugin)
sits beside the IPMP handler.  Each step is one of:

- ``detach``/``attach``: ``cfgadm [-f] -c unconfigure|configure net:nicN`` (mostly on a NIC
  where it makes sense, sometimes on any NIC: refusals must be clean too);
- ``surprise``/``return``: a NIC moved out of the host behind rcm's back (to a namespace rcm
  does not know) and back;
- ``carrier_down``/``carrier_up``/``flap``: the NIC's switch port set down, up, or both;
- ``kill``/``kill_mid``: SIGKILL of rcmd, idle or while a cfgadm change is in flight, and a
  restart (it recovers the journal and reconciles);
- ``concurrent``: two root changes at once with listing clients beside them;
- ``flood_on``/``flood_off``: 100 idle connections from uid 65534, reopened as soon as rcmd
  drops them, kept across the following steps until ``flood_off``;
- ``fault``: the soak handler armed to raise, hang past the handler timeout, or return garbage
  in one hook, then the step that reaches that hook;
- ``list``: ``cfgadm -lv`` (every handler's rcm_get_info).

After each step, within ``--settle`` seconds (rcmd reacts to events asynchronously):

- every configured data address is on exactly one usable member of its group (in the host,
  up, with carrier); when no member is usable, on at most one NIC;
- none is on a parked NIC (detached to the holding namespace, or pulled out of the host);
- root's listing request is answered by rcmd (also during the flood);
- no cfgadm printed a traceback, none was told "rcmd is busy", and rcmd's log has no traceback.

A violation prints the seed, the step number, the step, and the lab's state, and the exit status
is 1.  The same seed gives the same sequence of steps (the timing of the machine does not repeat;
the step list is printed with ``--verbose`` to replay by hand).

Run as root:  nice python bench/soak.py --seed 1 --ops 10000 [--json result.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FAULTS_DIR = HERE / "soak_faults"

from rcm_lab import Lab, LabError, raise_on_signals, wait_until  # noqa: E402

NICS = ("nic0", "nic1", "nic2")
INTERFACES: dict[str, dict[str, Any]] = {
    "nic0": {
        "group": "g",
        "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
        "test_addresses": [],
        "standby": False,
    },
    "nic1": {
        "group": "g",
        "addresses": ["192.0.2.11/24", "2001:db8::11/64"],
        "test_addresses": [],
        "standby": False,
    },
    "nic2": {"group": "g", "addresses": [], "test_addresses": [], "standby": True},
}
DATA = {a: nic for nic, f in INTERFACES.items() for a in f["addresses"]}
NOBODY = 65534

FAULT_HOOKS = {
    # hook: the kinds that mean something for it (a notify hook's return value is ignored)
    "rcm_request_offline": ("raise", "hang", "garbage"),
    "rcm_notify_online": ("raise", "hang"),
    "rcm_notify_remove": ("raise", "hang"),
    "rcm_notify_event": ("raise", "hang"),
    "rcm_get_info": ("raise", "garbage"),
    "rcm_register": ("raise", "garbage"),
}

FLOOD_CLIENT = r"""
import os, select, socket, sys, time
runtime, uid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.chdir(runtime)
os.setgroups([])
os.setgid(uid)
os.setuid(uid)

def connect():
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("rcmd.sock")
            return s
        except OSError:       # rcmd restarting (a kill step): keep trying, as an attacker would
            s.close()
            if select.select([sys.stdin], [], [], 0.05)[0]:
                sys.exit(0)

conns = [connect() for _ in range(n)]
print("ready", flush=True)
while True:
    readable, _, _ = select.select([sys.stdin, *conns], [], [], 0.05)
    if sys.stdin in readable:
        break
    for s in readable:
        s.close()
        conns[conns.index(s)] = connect()
    time.sleep(0.02)
"""


class Violation(Exception):
    """The invariant does not hold (or a client saw something it never may)."""


def ask(path: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """One request on rcmd's socket, as root; the parsed answer (OSError/ValueError if none)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n") and (chunk := s.recv(1 << 20)):
            buf += chunk
    answer: dict[str, Any] = json.loads(buf)
    return answer


class World:
    """What the kernel says: per namespace role, link -> (flags, global addresses)."""

    def __init__(self, lab: Lab, limbo: str) -> None:
        self.links: dict[str, dict[str, tuple[set[str], set[str]]]] = {}
        for role, ns in (("host", "host"), ("holding", "holding"), ("limbo", limbo)):
            self.links[role] = {}
            r = lab.ip(ns, "-j", "addr", "show", check=False)
            for link in json.loads(r.stdout or "[]") if r.returncode == 0 else []:
                addrs = {
                    f"{a['local']}/{a['prefixlen']}"
                    for a in link.get("addr_info", [])
                    if a.get("scope") == "global"
                }
                self.links[role][link["ifname"]] = (set(link.get("flags", [])), addrs)

    def where(self, nic: str) -> str | None:
        for role, links in self.links.items():
            if nic in links:
                return role
        return None

    def usable(self) -> set[str]:
        host = self.links["host"]
        return {n for n in NICS if n in host and {"UP", "LOWER_UP"} <= host[n][0]}

    def faults(self) -> list[str]:
        """Every way this state breaks the invariant."""
        out = []
        usable = self.usable()
        for addr in DATA:
            on_host = [n for n, (_f, a) in self.links["host"].items() if addr in a]
            parked = [
                f"{role}:{n}"
                for role in ("holding", "limbo")
                for n, (_f, a) in self.links[role].items()
                if addr in a
            ]
            if parked:
                out.append(f"{addr} is on parked NIC(s) {', '.join(parked)}")
            if usable:
                if len(on_host) != 1 or on_host[0] not in usable:
                    out.append(
                        f"{addr} is on {on_host or 'no NIC'}; want exactly one of the usable"
                        f" members {sorted(usable)}"
                    )
            elif len(on_host) > 1:
                out.append(f"{addr} is on {on_host} with no usable member (want at most one)")
        return out

    def describe(self) -> str:
        lines = []
        for role, links in self.links.items():
            for n, (flags, addrs) in sorted(links.items()):
                if n == "lo":
                    continue
                carrier = "carrier" if "LOWER_UP" in flags else "no-carrier"
                up = "UP" if "UP" in flags else "down"
                lines.append(f"  {role}:{n} {up} {carrier} {' '.join(sorted(addrs)) or '-'}")
        return "\n".join(lines)


class Soak:
    def __init__(self, seed: int, ops: int, timeout: float, settle: float, verbose: bool) -> None:
        self.seed = seed
        self.ops = ops
        self.rng = random.Random(seed)
        self.timeout = timeout
        self.settle = settle
        self.verbose = verbose
        self.counts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.fired = 0
        self.step = 0
        self.what = ""
        self.lab: Lab | None = None
        self.limbo = f"rcmlab-limbo-{os.getpid()}-{secrets.token_hex(3)}"
        self.limbo_made = False
        self.rcmd: subprocess.Popen[bytes] | None = None
        self.flood: subprocess.Popen[str] | None = None
        self.log_offset = 0
        self.arm = ""

    # -- set-up -------------------------------------------------------------------------
    def build(self) -> Lab:
        lab = Lab(nics=NICS, interfaces=INTERFACES)
        self.lab = lab
        lab.build()
        assert lab.tmp is not None
        self.arm = str(lab.tmp / "fault.json")
        lab.rcm_settings = {
            "handlers": {"timeout": self.timeout},
            "plugins": {"soakfault": {"arm": self.arm}},
        }
        lab.write_config()
        subprocess.run(["ip", "netns", "add", self.limbo], check=True)
        self.limbo_made = True
        # The fault handler is installed for rcmd (and cfgadm) by its folder on PYTHONPATH.
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(FAULTS_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        check = subprocess.run(
            lab.exec_argv("host", [str(Path(sys.executable).with_name("rcmd")), "--check-config"]),
            capture_output=True,
            text=True,
            env=lab.env(),
            timeout=120,
        )
        if "soakfault" not in check.stdout:
            raise LabError(f"the soak fault handler is not loaded:\n{check.stdout}{check.stderr}")
        self.start_rcmd()
        return lab

    def close(self) -> None:
        self.flood_off()
        if self.lab is not None:
            self.lab.close()
        if self.limbo_made:
            subprocess.run(["ip", "netns", "delete", self.limbo], capture_output=True)

    def start_rcmd(self) -> None:
        assert self.lab is not None
        self.rcmd = self.lab.start_rcmd(timeout=120)

    # -- checks ---------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        raise Violation(message)

    def check_cfgadm(self, r: subprocess.CompletedProcess[str], allowed: tuple[int, ...]) -> None:
        text = r.stdout + r.stderr
        key = f"{self.what.split()[0]}: exit {r.returncode}"
        self.outcomes[key] += 1
        if "Traceback" in text:
            self.fail(f"cfgadm printed a traceback:\n{text}")
        if "rcmd is busy" in text:
            self.fail(f"root was told rcmd is busy:\n{text}")
        if r.returncode not in allowed:
            self.fail(f"cfgadm exit {r.returncode} (allowed {allowed}):\n{text}")

    def check_log(self) -> None:
        assert self.lab is not None
        with open(self.lab.rcmd_log_path, "rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        self.log_offset += len(data)
        text = data.decode(errors="replace")
        if "Traceback" in text:
            self.fail(f"rcmd logged a traceback:\n{text[-4000:]}")

    def check_invariant(self) -> None:
        assert self.lab is not None
        if self.rcmd is None or self.rcmd.poll() is not None:
            self.fail("rcmd is not running")
        last: list[str] = []

        def holds() -> bool:
            nonlocal last
            last = World(self.lab, self.limbo).faults()  # type: ignore[arg-type]
            return not last

        if not wait_until(holds, self.settle, 0.1):
            self.fail("invariant:\n  " + "\n  ".join(last))
        try:
            answer = ask(self.lab.socket_path, {"op": "list", "ap_ids": []})
        except (OSError, ValueError) as e:
            self.fail(f"root's listing was not answered: {e}")
        if "aps" not in answer:
            self.fail(f"root's listing was answered {answer}")
        self.check_log()

    # -- the steps ---------------------------------------------------------------------------
    def cfgadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.lab is not None
        return self.lab.cfgadm(*args, timeout=120)

    def world(self) -> World:
        return World(self.lab, self.limbo)  # type: ignore[arg-type]

    def pick(self, candidates: list[str]) -> str:
        """Mostly a NIC where the step makes sense; one time in five any NIC."""
        if candidates and self.rng.random() < 0.8:
            return self.rng.choice(sorted(candidates))
        return self.rng.choice(NICS)

    def change(self, action: str, nic: str, force: bool) -> None:
        args = ["-f", "-y"] if force else []
        self.what = f"{'detach' if action == 'unconfigure' else 'attach'} {' '.join(args)} {nic}"
        r = self.cfgadm(*args, "-c", action, f"net:{nic}")
        self.check_cfgadm(r, (0, 1))

    def op_detach(self, w: World) -> None:
        self.change("unconfigure", self.pick(list(w.links["host"])), self.rng.random() < 0.5)

    def op_attach(self, w: World) -> None:
        self.change("configure", self.pick(list(w.links["holding"])), self.rng.random() < 0.2)

    def op_surprise(self, w: World) -> None:
        assert self.lab is not None
        nic = self.rng.choice(sorted(set(NICS) & set(w.links["host"])))
        self.what = f"surprise removal of {nic}"
        self.lab.move(nic, "host", self.limbo)

    def op_return(self, w: World) -> None:
        assert self.lab is not None
        nic = self.rng.choice(sorted(set(NICS) & set(w.links["limbo"])))
        self.what = f"surprise return of {nic}"
        self.lab.move(nic, self.limbo, "host")

    def port(self, nic: str, up: bool) -> None:
        assert self.lab is not None
        self.lab.switch("link", "set", f"p-{nic}", "up" if up else "down")

    def op_carrier_down(self, w: World) -> None:
        nic = self.rng.choice(NICS)
        self.what = f"carrier down on {nic}"
        self.port(nic, False)

    def op_carrier_up(self, w: World) -> None:
        nic = self.rng.choice(NICS)
        self.what = f"carrier up on {nic}"
        self.port(nic, True)

    def op_flap(self, w: World) -> None:
        nic = self.rng.choice(NICS)
        pause = self.rng.choice((0.0, 0.05, 0.3))
        self.what = f"carrier flap on {nic} ({pause:g} s)"
        self.port(nic, False)
        time.sleep(pause)
        self.port(nic, True)

    def kill_rcmd(self) -> None:
        assert self.rcmd is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.rcmd.pid, signal.SIGKILL)
        self.rcmd.wait(timeout=30)

    def op_kill(self, w: World) -> None:
        self.what = "SIGKILL rcmd (idle) and restart"
        self.kill_rcmd()
        self.restart()

    def restart(self) -> None:
        try:
            self.start_rcmd()
        except LabError as e:
            self.fail(f"rcmd did not restart: {e}")

    def op_kill_mid(self, w: World) -> None:
        assert self.lab is not None
        action = self.rng.choice(("unconfigure", "configure"))
        nic = self.pick(list(w.links["host" if action == "unconfigure" else "holding"]))
        delay = self.rng.choice((0.0, 0.02, 0.1, 0.2, 0.4))
        self.what = f"SIGKILL rcmd {delay:g} s into -f -c {action} {nic}, restart"
        argv = [str(Path(sys.executable).with_name("cfgadm")), "-f", "-y", "-c", action]
        proc = subprocess.Popen(
            self.lab.exec_argv("host", [*argv, f"net:{nic}"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.lab.env(),
            start_new_session=True,
        )
        try:
            time.sleep(delay)
            self.kill_rcmd()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.check_cfgadm(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), (0, 1))
        self.restart()

    def op_concurrent(self, w: World) -> None:
        assert self.lab is not None
        jobs = [
            (self.rng.choice(("unconfigure", "configure")), self.rng.choice(NICS)) for _ in range(2)
        ]
        self.what = "concurrent " + ", ".join(f"-c {a} {n}" for a, n in jobs) + " + 4 listers"
        results: list[subprocess.CompletedProcess[str]] = []
        errors: list[str] = []

        def change(action: str, nic: str) -> None:
            results.append(self.cfgadm("-f", "-y", "-c", action, f"net:{nic}"))

        def lister(verbose: bool) -> None:
            try:
                answer = ask(self.lab.socket_path, {"op": "list", "verbose": verbose})  # type: ignore[union-attr]
                if "aps" not in answer:
                    errors.append(f"listing answered {answer}")
            except (OSError, ValueError) as e:
                errors.append(f"listing not answered: {e}")

        threads = [threading.Thread(target=change, args=job) for job in jobs]
        threads += [threading.Thread(target=lister, args=(i % 2 == 0,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        for r in results:
            self.check_cfgadm(r, (0, 1))
        if errors:
            self.fail("; ".join(errors))

    def op_flood_on(self, w: World) -> None:
        assert self.lab is not None
        self.what = "unprivileged flood on (100 idle connections from uid 65534)"
        self.flood = subprocess.Popen(
            [sys.executable, "-c", FLOOD_CLIENT, str(self.lab.runtime_dir), str(NOBODY), "100"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.flood.stdout is not None
        if self.flood.stdout.readline() != "ready\n":
            self.fail("the flood did not start")

    def flood_off(self) -> None:
        flood, self.flood = self.flood, None
        if flood is None:
            return
        assert flood.stdin is not None
        with contextlib.suppress(OSError):
            flood.stdin.close()
        try:
            flood.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(flood.pid, signal.SIGKILL)
            flood.wait()

    def op_flood_off(self, w: World) -> None:
        self.what = "unprivileged flood off"
        self.flood_off()

    def op_list(self, w: World) -> None:
        self.what = "list -lv"
        self.check_cfgadm(self.cfgadm("-lv"), (0,))

    def op_fault(self, w: World) -> None:
        hook = self.rng.choice(sorted(FAULT_HOOKS))
        kind = self.rng.choice(FAULT_HOOKS[hook])
        if kind == "hang" and self.rng.random() < 0.8:
            kind = "raise"  # a hang costs up to twice the timeout: keep them rare
        seconds = round(self.timeout * 1.4, 2)
        spec = {"hook": hook, "kind": kind, "seconds": seconds}
        if hook == "rcm_request_offline":
            spec["query"] = self.rng.random() < 0.5
        Path(self.arm).write_text(json.dumps(spec))
        fired_before = self._fired()
        try:
            self._reach(hook, w)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.arm)  # not reached: disarm, so it cannot fire later
        fired = self._fired() > fired_before
        self.fired += fired
        self.what += f" [fault {kind} in {hook}{' fired' if fired else ' not reached'}]"
        if kind == "hang" and fired:
            time.sleep(seconds)  # let the hung call end before the next step

    def _fired(self) -> int:
        try:
            return len(Path(self.arm + ".fired").read_text().splitlines())
        except FileNotFoundError:
            return 0

    def _reach(self, hook: str, w: World) -> None:
        """The step that calls ``hook`` of the soak handler."""
        host = sorted(set(NICS) & set(w.links["host"]))
        held = sorted(set(NICS) & set(w.links["holding"]))
        if hook == "rcm_request_offline" and host:
            self.change("unconfigure", self.rng.choice(host), self.rng.random() < 0.5)
        elif hook in ("rcm_notify_online", "rcm_register") and held:
            self.change("configure", self.rng.choice(held), False)
        elif hook == "rcm_notify_remove" and host:
            self.op_surprise(w)
        elif hook == "rcm_get_info":
            self.op_list(w)
        else:
            self.op_flap(w)

    # -- the run --------------------------------------------------------------------------
    def choose(self, w: World) -> Callable[[World], None]:
        host = set(NICS) & set(w.links["host"])
        limbo = set(NICS) & set(w.links["limbo"])
        table: list[tuple[Callable[[World], None], int]] = [
            (self.op_detach, 20),
            (self.op_attach, 20 if w.links["holding"] else 3),
            (self.op_surprise, 6 if len(host) > 1 else 1 if host else 0),
            (self.op_return, 12 if limbo else 0),
            (self.op_carrier_down, 5),
            (self.op_carrier_up, 8),
            (self.op_flap, 6),
            (self.op_kill, 2),
            (self.op_kill_mid, 3),
            (self.op_concurrent, 4),
            (self.op_flood_on if self.flood is None else self.op_flood_off, 2),
            (self.op_fault, 8),
            (self.op_list, 2),
        ]
        ops, weights = zip(*[(op, wt) for op, wt in table if wt], strict=True)
        return self.rng.choices(ops, weights)[0]

    def run(self) -> int:
        started = time.monotonic()
        self.build()
        self.check_invariant()
        for step in range(1, self.ops + 1):
            self.step = step
            w = self.world()
            op = self.choose(w)
            name = op.__name__.removeprefix("op_")
            self.what = name
            op(w)
            self.counts[name] += 1
            self.check_invariant()
            if self.verbose:
                print(f"step {self.step}: {self.what}", flush=True)
            elif self.step % 100 == 0:
                rate = self.step / (time.monotonic() - started)
                print(f"soak: {self.step}/{self.ops} steps, {rate:.2f}/s", flush=True)
        self.elapsed = time.monotonic() - started
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=5.0, help="[handlers] timeout, s")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to converge")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--verbose", action="store_true", help="print every step")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces)", file=sys.stderr)
        return 2
    raise_on_signals()
    soak = Soak(args.seed, args.ops, args.timeout, args.settle, args.verbose)
    status = 0
    result: dict[str, Any] = {"seed": args.seed, "ops": args.ops}
    started = time.monotonic()
    try:
        soak.run()
        result.update(violations=0)
    except Violation as e:
        status = 1
        state = soak.world().describe() if soak.lab else ""
        log = soak.lab.rcmd_log_tail(40) if soak.lab else ""
        print(
            f"soak: VIOLATION seed={args.seed} step={soak.step}: {soak.what}\n{e}\n"
            f"lab state:\n{state}\n--- rcmd log (tail) ---\n{log}",
            file=sys.stderr,
        )
        result.update(violations=1, step=soak.step, what=soak.what, error=str(e))
    except (KeyboardInterrupt, SystemExit):
        status = 130
        print(f"soak: interrupted at step {soak.step}", file=sys.stderr)
        result.update(violations=0, interrupted=True)
    finally:
        elapsed = time.monotonic() - started
        soak.close()
    done = soak.step if status == 0 else soak.step - 1  # the failed (or cut) step did not pass
    result.update(
        steps_done=done,
        seconds=round(elapsed, 1),
        ops_per_second=round(done / elapsed, 3) if elapsed else None,
        steps=dict(sorted(soak.counts.items())),
        outcomes=dict(sorted(soak.outcomes.items())),
        faults_fired=soak.fired,
    )
    print(json.dumps(result, indent=2))
    print(
        f"soak: seed {args.seed}: {done} operations, {result.get('violations')} violations,"
        f" {result['ops_per_second']} ops/s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
