"""A throwaway network-namespace lab: one host with two NICs on a switch, a client, and a
holding namespace for detached NICs.

The acceptance tests and the demo both drive the real kernel through this, so it is built to
leave nothing behind: every namespace and process it makes is recorded the moment it exists,
and :meth:`Lab.close` removes them all, also after an exception or a signal.

Layout (every name gets the pid and a random suffix, because other processes share the
machine)::

    host ns:    nic0 ──┐                      client ns: eth0 192.0.2.100/24, 2001:db8::100/64
                nic1 ──┤  switch ns: br0  ├── p-eth0
                (nic2…)┘   p-nic0, p-nic1 …
    holding ns: where unconfigured NICs wait (rcm.toml ``[plugins.net] holding``)

The namespaces are created with ``ip netns add`` from this process, which must run in the
root mount namespace: a namespace added inside ``ip netns exec`` is bind-mounted only in that
command's private mount namespace and is invisible to rcmd and cfgadm (field notes).

The lab creates and ups links only.  It never adds the data addresses: restoring them from the
interface files is rcmd's job, and that is part of what the tests check.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conversation import Conversation

ROLES = ("host", "switch", "client", "holding")
"""The four namespaces of a lab, by role."""

CLIENT_V4 = "192.0.2.100/24"
CLIENT_V6 = "2001:db8::100/64"

DEFAULT_INTERFACES: dict[str, dict[str, Any]] = {
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
}
"""Interface files written by default: nic0 and nic1 in IPMP group ``g``."""

DEFAULT_GROUPS: dict[str, dict[str, Any]] = {"g": {"failback": True}}

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The source tree this file lives in (used only when the console scripts are not installed)."""


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


class RcmdError(LabError):
    """rcmd did not come up.  ``returncode`` is its exit status if it exited, else None."""

    def __init__(self, message: str, returncode: int | None, log: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.log = log


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` seconds pass.

    Every wait in the lab is bounded: a product bug must fail a test, not hang it.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def raise_on_signals(signums: Iterable[int] = (signal.SIGTERM, signal.SIGHUP)) -> None:
    """Turn SIGTERM/SIGHUP into SystemExit and make sure SIGINT raises KeyboardInterrupt.

    The default action of SIGTERM kills the interpreter without unwinding, so a ``with Lab()``
    block would leave its namespaces behind.  Raising instead lets the context manager clean up.
    Call from the main thread.
    """

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for signum in signums:
        signal.signal(signum, _raise)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _toml_value(value: Any) -> str:
    """Serialise the few TOML value types the config files use (no third-party writer here)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(data: Mapping[str, Any]) -> str:
    """Write a mapping of keys and (nested) tables as TOML text."""
    lines: list[str] = []

    def emit(prefix: str, table: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
        subtables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if prefix and (scalars or not subtables):
            lines.append(f"[{prefix}]")
        for key, value in scalars:
            lines.append(f"{key} = {_toml_value(value)}")
        if scalars:
            lines.append("")
        for key, sub in subtables:
            emit(f"{prefix}.{key}" if prefix else key, sub)

    emit("", data)
    return "\n".join(lines).rstrip() + "\n"


def _console_script(name: str, module: str) -> tuple[list[str], bool]:
    """The command for one of the product's console scripts, and whether it is the fallback.

    The script next to ``sys.executable`` is the one installed into the same environment as
    the tests.  Without it we import the entry point directly (``python -c``), which unlike
    ``python -m`` does not depend on the module having a ``__main__`` block.
    """
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)], False
    code = f"import sys; from {module} import main; sys.exit(main())"
    return [sys.executable, "-c", code], True


class Lab:
    """Namespaces, veths, a bridge and an rcm configuration in a temporary folder.

    Use as a context manager (``with Lab() as lab:``) or call :meth:`build` and :meth:`close`
    yourself.  Nothing happens in the constructor, so a failed build never leaks.

    ``nics`` are the host NICs the interface files describe; ``ungrouped`` are extra host NICs
    with no interface file (a test gives them addresses itself).  ``interfaces`` replaces the
    interface files (ifname -> fields; ``None`` means "write no file"), ``groups`` the
    ``[groups.*]`` tables of ipmp.toml, and ``rcm_settings`` is merged into rcm.toml.
    ``keep_tmp`` (default: env ``RCM_LAB_KEEP=1``) keeps the temporary folder (config, state,
    rcmd.log, conversation logs) after close, for a post-mortem.
    """

    def __init__(
        self,
        nics: Iterable[str] = ("nic0", "nic1"),
        ungrouped: Iterable[str] = (),
        interfaces: Mapping[str, Mapping[str, Any] | None] | None = None,
        groups: Mapping[str, Mapping[str, Any]] | None = None,
        rcm_settings: Mapping[str, Any] | None = None,
        keep_tmp: bool | None = None,
    ) -> None:
        self.nics: list[str] = list(nics)
        self.ungrouped: list[str] = list(ungrouped)
        self.interfaces: dict[str, Mapping[str, Any] | None] = (
            dict(DEFAULT_INTERFACES) if interfaces is None else dict(interfaces)
        )
        self.groups: dict[str, Mapping[str, Any]] = (
            dict(DEFAULT_GROUPS) if groups is None else dict(groups)
        )
        self.rcm_settings: dict[str, Any] = dict(rcm_settings or {})
        self.keep_tmp = os.environ.get("RCM_LAB_KEEP") == "1" if keep_tmp is None else keep_tmp
        tag = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.ns: dict[str, str] = {role: f"rcmlab-{role}-{tag}" for role in ROLES}
        """Namespace name by role: host, switch, client, holding."""
        self.tmp: Path | None = None
        self._made_ns: list[str] = []
        self._rcmd: subprocess.Popen[bytes] | None = None
        self._rcmd_log_file: Any = None
        self._rcmd_log_offset = 0
        self._rcmd_fallback = False
        self._procs: list[subprocess.Popen[bytes]] = []
        self._conversations: list[Conversation] = []
        self._next_port = 7000
        self._closed = False
        self._built = False

    # -- life cycle ---------------------------------------------------------
    def __enter__(self) -> Lab:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def build(self) -> Lab:
        """Create the folders, namespaces, links and config files.

        Each namespace is recorded right after ``ip netns add`` succeeds, so :meth:`close`
        removes exactly what exists even if the build stops half way.
        """
        if self._built:
            return self
        self._built = True
        atexit.register(self.close)  # last resort if a caller forgets close()
        self.tmp = Path(tempfile.mkdtemp(prefix="rcm-lab-"))
        for sub in ("config/interfaces", "state", "runtime"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)

        for role in ROLES:
            self._run(["ip", "netns", "add", self.ns[role]])
            self._made_ns.append(self.ns[role])
            self.ip(role, "link", "set", "lo", "up")

        # The switch: a plain bridge.  With STP off its ports forward at once; multicast
        # snooping off so IPv6 neighbour solicitations always flood.
        self.ip("switch", *"link add br0 type bridge stp_state 0 mcast_snooping 0".split())
        self.ip("switch", "link", "set", "br0", "up")
        # Pointless IPv6 on the bridge ports would only add noise (router solicitations, DAD).
        self.ip("switch", "link", "set", "br0", "addrgenmode", "none")

        for i, nic in enumerate(self.nics + self.ungrouped):
            self._veth("host", nic, f"02:00:5e:00:01:{i:02x}")
        for nic in self.ungrouped:
            # rcmd tunes ARP only on group members; an ungrouped NIC on the same segment would
            # otherwise answer ARP for the group's addresses (ARP flux) and confuse the client.
            self._sysctl("host", f"net.ipv4.conf.{nic}.arp_ignore", "1")
            self._sysctl("host", f"net.ipv4.conf.{nic}.arp_announce", "2")
        self._veth("client", "eth0", "02:00:5e:00:02:00")
        self.ip("client", "addr", "add", CLIENT_V4, "dev", "eth0")
        self.ip("client", "addr", "add", CLIENT_V6, "dev", "eth0", "nodad")

        self.write_config()
        return self

    def _veth(self, role: str, ifname: str, mac: str) -> None:
        """A veth pair: ``ifname`` in namespace ``role``, its peer ``p-<ifname>`` on br0."""
        peer = f"p-{ifname}"[:15]
        spec = f"link add {ifname} address {mac} type veth peer name {peer}"
        self.ip(role, *spec.split(), "netns", self.ns["switch"])
        self.ip("switch", "link", "set", peer, "addrgenmode", "none")
        self.ip("switch", "link", "set", peer, "master", "br0", "up")
        self.ip(role, "link", "set", ifname, "up")

    def _sysctl(self, ns: str, key: str, value: str) -> None:
        """Set a per-namespace sysctl (``ip netns exec`` remounts /proc/sys for that netns)."""
        self._run(self.exec_argv(ns, ["sysctl", "-q", "-w", f"{key}={value}"]))

    def write_config(self) -> None:
        """(Re)write interfaces/*.toml, ipmp.toml and rcm.toml from the lab's settings."""
        assert self.tmp is not None, "build() first"
        idir = self.config_dir / "interfaces"
        for old in idir.glob("*.toml"):
            old.unlink()
        for ifname, fields in self.interfaces.items():
            if fields is not None:
                (idir / f"{ifname}.toml").write_text(to_toml(fields))
        (self.config_dir / "ipmp.toml").write_text(to_toml({"groups": self.groups}))
        # The hardware plugins read a sysfs tree of the lab's own (empty unless a test builds a
        # fake one there), so that a listing shows the lab's NICs, not this machine's hardware.
        (self.tmp / "sys").mkdir(exist_ok=True)
        defaults = {
            "plugins": {
                "net": {"holding": self.ns["holding"]},
                "hw": {"sysfs": str(self.tmp / "sys")},
            }
        }
        settings = _merged(defaults, self.rcm_settings)
        (self.config_dir / "rcm.toml").write_text(to_toml(settings))

    def close(self) -> None:
        """Stop every process and delete every namespace this lab made.  Idempotent.

        SIGINT/SIGTERM are blocked meanwhile so that a second Ctrl-C cannot cut the cleanup
        short; a signal that arrived is delivered (and raises) once everything is gone.
        """
        if self._closed:
            return
        self._closed = True
        blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            self._cleanup()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            with contextlib.suppress(Exception):
                atexit.unregister(self.close)

    def _cleanup(self) -> None:
        errors: list[str] = []
        for conv in list(self._conversations):
            with contextlib.suppress(Exception):
                conv.stop()
        with contextlib.suppress(Exception):
            self.stop_rcmd()
        for proc in list(self._procs):
            _terminate(proc)
        # Whatever is still inside our namespaces (children rcmd forked, helpers that moved
        # themselves) was started by this lab: the names are unique to it.
        for name in self._made_ns:
            for pid in _netns_pids(name):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for name in reversed(self._made_ns):
            if not wait_until(lambda n=name: not _netns_pids(n), 2.0):
                errors.append(f"processes still in {name}")
            r = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True)
            if r.returncode != 0 and Path("/run/netns", name).exists():
                errors.append(f"ip netns delete {name}: {r.stderr.strip()}")
        self._made_ns.clear()
        if self._rcmd_log_file is not None:
            with contextlib.suppress(Exception):
                self._rcmd_log_file.close()
        if self.tmp is not None:
            if self.keep_tmp:
                print(f"rcm lab: kept {self.tmp}", file=sys.stderr)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise LabError("lab cleanup incomplete: " + "; ".join(errors))

    # -- paths and environment ----------------------------------------------
    @property
    def config_dir(self) -> Path:
        assert self.tmp is not None, "build() first"
        return self.tmp / "config"

    @property
    def state_dir(self) -> Path:
        assert self.tmp is not None, "build() first"
        return self.tmp / "state"

    @property
    def runtime_dir(self) -> Path:
        assert self.tmp is not None, "build() first"
        return self.tmp / "runtime"

    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "rcmd.sock"

    @property
    def rcmd_log_path(self) -> Path:
        assert self.tmp is not None, "build() first"
        return self.tmp / "rcmd.log"

    def processes(self) -> list[int]:
        """Pids of the long-lived processes the lab started (rcmd, conversations)."""
        procs = [*self._procs, *([self._rcmd] if self._rcmd is not None else [])]
        return [p.pid for p in procs]

    def namespaces(self) -> list[str]:
        """Names of the namespaces that exist now because of this lab."""
        return list(self._made_ns)

    def env(self) -> dict[str, str]:
        """The environment for rcmd and cfgadm: ours plus the three rcm directories."""
        env = dict(os.environ)
        env.update(
            RCM_CONFIG_DIR=str(self.config_dir),
            RCM_STATE_DIR=str(self.state_dir),
            RCM_RUNTIME_DIR=str(self.runtime_dir),
            PYTHONUNBUFFERED="1",
        )
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if _console_script("rcmd", "rcm.daemon")[1]:
            # Not installed: let ``python -c 'from rcm.daemon import main'`` find the tree.
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
            )
        return env

    # -- running things -----------------------------------------------------
    def _ns(self, ns: str) -> str:
        """Accept a role ("host") or a real namespace name."""
        return self.ns.get(ns, ns)

    def _run(
        self, argv: list[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def ip(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``ip -n <ns> args…``; raises LabError on failure unless ``check=False``."""
        return self._run(["ip", "-n", self._ns(ns), *args], check=check)

    def host(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.ip("host", *args, check=check)

    def client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.ip("client", *args, check=check)

    def switch(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.ip("switch", *args, check=check)

    def holding(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.ip("holding", *args, check=check)

    def exec_argv(self, ns: str, argv: list[str]) -> list[str]:
        """The argv that runs ``argv`` inside a namespace (``ip netns exec``)."""
        return ["ip", "netns", "exec", self._ns(ns), *argv]

    def spawn(self, ns: str, argv: list[str], log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a long-lived process in a namespace, in its own session, owned by the lab.

        Its own session so that Ctrl-C in a terminal reaches only the demo, which then tears
        things down in order; the lab kills the process group in :meth:`close`.
        """
        out: Any = subprocess.DEVNULL
        if log is not None:
            out = open(log, "ab")  # the child keeps its own copy; ours is closed below
        try:
            proc = subprocess.Popen(
                self.exec_argv(ns, argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env(),
                start_new_session=True,
            )
        finally:
            if log is not None:
                out.close()
        self._procs.append(proc)
        return proc

    def move(self, ifname: str, src: str, dst: str) -> None:
        """Move a link between namespaces behind rcm's back (a surprise removal or arrival)."""
        self.ip(src, "link", "set", ifname, "netns", self._ns(dst))

    # -- rcmd and cfgadm ------------------------------------------------------
    def start_rcmd(self, timeout: float = 15.0) -> subprocess.Popen[bytes]:
        """Start rcmd in the host namespace and wait until its socket accepts.

        Raises :class:`RcmdError` (with the log tail) if rcmd exits first or never listens.
        """
        if self._rcmd is not None and self._rcmd.poll() is None:
            raise LabError("rcmd is already running")
        argv, self._rcmd_fallback = _console_script("rcmd", "rcm.daemon")
        log_path = self.rcmd_log_path
        self._rcmd_log_offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log:
            self._rcmd = subprocess.Popen(
                self.exec_argv("host", argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env(),
                start_new_session=True,
            )
        proc = self._rcmd
        deadline = time.monotonic() + timeout
        while True:
            code = proc.poll()
            if code is not None:
                raise RcmdError(
                    f"rcmd exited with status {code} before listening on {self.socket_path}"
                    f"\n--- rcmd log ---\n{self.rcmd_log_tail()}",
                    code,
                    self.rcmd_log(),
                )
            if _accepts(self.socket_path):
                return proc
            if time.monotonic() >= deadline:
                self.stop_rcmd()
                raise RcmdError(
                    f"rcmd did not listen on {self.socket_path} within {timeout:g}s"
                    f"\n--- rcmd log ---\n{self.rcmd_log_tail()}",
                    None,
                    self.rcmd_log(),
                )
            time.sleep(0.05)

    def stop_rcmd(self, timeout: float = 5.0) -> int | None:
        """SIGTERM rcmd's process group, SIGKILL after ``timeout``; returns its exit status."""
        proc, self._rcmd = self._rcmd, None
        if proc is None:
            return None
        return _terminate(proc, timeout)

    def rcmd_running(self) -> bool:
        return self._rcmd is not None and self._rcmd.poll() is None

    def rcmd_log(self, since_start: bool = True) -> str:
        """rcmd's stderr; by default only what the latest start wrote."""
        try:
            data = self.rcmd_log_path.read_bytes()
        except (OSError, AssertionError):
            return ""
        if since_start:
            data = data[self._rcmd_log_offset :]
        return data.decode(errors="replace")

    def rcmd_log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.rcmd_log().splitlines()[-lines:])

    def cfgadm(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``cfgadm args…`` in the host namespace with the lab's environment."""
        argv, _ = _console_script("cfgadm", "cfgadm.cli")
        return subprocess.run(
            self.exec_argv("host", [*argv, *args]),
            # Not a terminal: cfgadm asks "Continue (yes/no)?" before -f only at a terminal,
            # and a test run from a terminal must not stop at that question.
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
        )

    # -- looking at the kernel ---------------------------------------------------
    def _json(self, ns: str, *args: str) -> list[dict[str, Any]] | None:
        r = self.ip(ns, "-j", *args, check=False)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout or "[]")
        except json.JSONDecodeError:
            return None

    def addresses(self, ifname: str, ns: str = "host", all_scopes: bool = False) -> list[str]:
        """The addresses on a link as ``addr/prefix``; [] if the link is not there.

        Link-local (and host-scope) addresses are left out unless ``all_scopes``: they are the
        kernel's, not rcm's, and would clutter every assertion.
        """
        data = self._json(ns, "addr", "show", "dev", ifname)
        out: list[str] = []
        for link in data or []:
            for a in link.get("addr_info", []):
                if all_scopes or a.get("scope") == "global":
                    out.append(f"{a['local']}/{a['prefixlen']}")
        return out

    def links_in(self, ns: str, include_lo: bool = False) -> list[str]:
        """Names of the links in a namespace."""
        data = self._json(ns, "link", "show") or []
        return [d["ifname"] for d in data if include_lo or d.get("ifname") != "lo"]

    def link_up(self, ifname: str, ns: str = "host") -> bool:
        """Whether the link exists and is administratively up."""
        data = self._json(ns, "link", "show", "dev", ifname)
        return bool(data) and "UP" in data[0].get("flags", [])

    def mac(self, ns: str, ifname: str) -> str:
        data = self._json(ns, "link", "show", "dev", ifname)
        if not data:
            raise LabError(f"no link {ifname} in {self._ns(ns)}")
        return str(data[0]["address"])

    def nic_mac(self, ifname: str) -> str:
        """A host NIC's MAC wherever it is now (host or holding; a veth keeps its MAC)."""
        for ns in ("host", "holding"):
            data = self._json(ns, "link", "show", "dev", ifname)
            if data:
                return str(data[0]["address"])
        raise LabError(f"no link {ifname} in host or holding namespace")

    def client_neigh(self, addr: str) -> str | None:
        """The link-layer address the client has for ``addr``, or None (none, or unresolved)."""
        data = self._json("client", "neigh", "show", addr, "dev", "eth0") or []
        for entry in data:
            if entry.get("dst") == addr and entry.get("lladdr"):
                return str(entry["lladdr"])
        return None

    def wait_for_addresses(
        self,
        ifname: str,
        cidrs: Iterable[str],
        ns: str = "host",
        timeout: float = 5.0,
        present: bool = True,
    ) -> bool:
        """Poll until every cidr is on (``present``) or absent from (not ``present``) a link."""
        want = list(cidrs)

        def ok() -> bool:
            have = set(self.addresses(ifname, ns))
            return all((c in have) == present for c in want)

        return wait_until(ok, timeout)

    def where_are(self, cidr: str) -> list[str]:
        """Which host NICs (in the host namespace) carry an address now."""
        return [n for n in self.links_in("host") if cidr in self.addresses(n)]

    def snapshot(self) -> str:
        """Everything a person debugging a failed assertion wants at a glance."""
        lines = []
        for ns in ("host", "holding"):
            for link in self.links_in(ns):
                state = "UP" if self.link_up(link, ns) else "down"
                addrs = " ".join(self.addresses(link, ns)) or "-"
                lines.append(f"  {ns}:{link} {state} {addrs}")
        for cidr in ("192.0.2.10", "192.0.2.11", "2001:db8::10"):
            lines.append(f"  client neigh {cidr} -> {self.client_neigh(cidr)}")
        log = self.rcmd_log_tail(15)
        if self._rcmd_fallback:
            lines.append(
                "  NOTE: rcmd ran from the source tree (no console script next to "
                f"{sys.executable}): without `pip install -e .` no rcm.plugins entry points load"
            )
        return "lab state:\n" + "\n".join(lines) + "\n--- rcmd log (tail) ---\n" + log

    # -- conversations ------------------------------------------------------
    def _register_conversation(self, conv: Conversation) -> int:
        """Remember a conversation for cleanup and hand it a port of its own."""
        self._conversations.append(conv)
        port = self._next_port
        self._next_port += 1
        return port

    def conversation(self, address: str) -> Conversation:
        """Start a live TCP conversation from the client to ``address`` in the host."""
        from .conversation import Conversation

        conv = Conversation(self, address)
        conv.start()
        return conv


def _accepts(path: Path) -> bool:
    """Whether a Unix socket at ``path`` accepts a connection (path sockets ignore netns)."""
    if not path.exists():
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    """SIGTERM a process's group, then SIGKILL the group; the group is the lab's own session.

    The leader is reaped only after the group is killed: while it is an unreaped zombie its
    pid (the group id) cannot be reused, so the SIGKILL can never hit a stranger's group.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        wait_until(lambda: _exited_unreaped(proc.pid), timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    return proc.returncode


def _exited_unreaped(pid: int) -> bool:
    """Whether a child has exited, without reaping it (waitid with WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, tables merged key by key at every depth."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _netns_pids(name: str) -> list[int]:
    """Pids of processes inside a named namespace (``ip netns pids``)."""
    r = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    return [int(p) for p in r.stdout.split() if p.isdigit() and int(p) != os.getpid()]


def iter_rcmlab_namespaces() -> Iterator[str]:
    """Every lab namespace that exists on the machine (any owner): for diagnostics only."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith("rcmlab-"):
            yield name
