"""Who may do what, and what the control socket does with bad input, against a real rcmd.

- Anyone may list; only root changes state.  The daemon decides from the kernel's word on the
  peer (SO_PEERCRED), not from cfgadm's own check: a raw client with uid 65534 is denied too,
  whatever its request says.
- Bad requests (not JSON, not an object, unknown op, bad fields, a line over 64 KiB) get an
  ``{"error": ...}`` answer and rcmd keeps serving.
- Without rcmd, cfgadm runs the engine in its own process: listing works, a state change works
  end to end, and it takes the system lock, so two writers can never act at once; a mistyped
  ap_id creates nothing (no lock, no state folder, no database).
- A forced unconfigure says what -f overrode, once; ``rcmd --check-config`` says what it read.

The unprivileged user is uid/gid 65534 (nobody) with no supplementary groups and only one
capability, CAP_DAC_READ_SEARCH (ambient), because the product's Python lives under /root
(mode 0700) and the lab's runtime folder is a 0700 mkdtemp: without it nobody could not even
start the interpreter.  It grants reading files, nothing about networks or uids: rcmd sees
uid 65534, and cfgadm's geteuid() is 65534.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rcm_lab import Lab, RcmdError

pytestmark = pytest.mark.lab

V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"
NOBODY = 65534

UNPRIV = [
    "setpriv",
    f"--reuid={NOBODY}",
    f"--regid={NOBODY}",
    "--clear-groups",
    "--inh-caps=-all,+dac_read_search",
    "--ambient-caps=+dac_read_search",
    "--bounding-set=-all,+dac_read_search",
]


# -- helpers -----------------------------------------------------------------------


@pytest.fixture
def running(built: Lab) -> Lab:
    """A lab with rcmd running and the data addresses restored."""
    built.start_rcmd()
    assert restored(built), built.snapshot()
    return built


def restored(lab: Lab) -> bool:
    return lab.wait_for_addresses("nic0", [V4_10, V6_10]) and lab.wait_for_addresses(
        "nic1", [V4_11, V6_11]
    )


def assert_unchanged(lab: Lab) -> None:
    assert "nic0" in lab.links_in("host"), lab.snapshot()
    assert {V4_10, V6_10} <= set(lab.addresses("nic0")), lab.snapshot()
    assert not {V4_10, V6_10} & set(lab.addresses("nic1")), lab.snapshot()


def show(r: subprocess.CompletedProcess[str], lab: Lab) -> str:
    return (
        f"$ {' '.join(map(str, r.args))}\nexit {r.returncode}\n--- stdout ---\n{r.stdout}"
        f"--- stderr ---\n{r.stderr}\n{lab.snapshot()}"
    )


def cfgadm_as_nobody(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    cfgadm = str(Path(sys.executable).with_name("cfgadm"))
    return subprocess.run(
        lab.exec_argv("host", [*UNPRIV, cfgadm, *args]),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=lab.env(),
        cwd="/",
        timeout=60,
    )


def ask(path: Path, payload: bytes) -> dict[str, Any]:
    """One raw request on rcmd's socket (as root); the parsed answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(path))
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        buf = bytearray()
        # Read up to the newline, as cfgadm does: after a refused oversized request rcmd
        # closes with our excess unread, so the next recv would be ECONNRESET.
        while not buf.endswith(b"\n") and (chunk := s.recv(65536)):
            buf += chunk
    assert buf.endswith(b"\n"), buf
    answer: dict[str, Any] = json.loads(buf)
    return answer


RAW_CLIENT = r"""
import json, os, socket, sys
runtime, uid = sys.argv[1], int(sys.argv[2])
os.chdir(runtime)            # the 0755 runtime dir; its 0700 parent is not traversed later
os.setgroups([])
os.setgid(uid)
os.setuid(uid)               # from here on an ordinary process: no capability left
request = {"op": "change_state", "action": "unconfigure", "ap_id": "net:nic0",
           "force": True, "query_only": False, "uid": 0, "user": "root"}
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(30)
    s.connect("rcmd.sock")
    s.sendall(json.dumps(request).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "capeff": caps,
                  "answer": json.loads(buf)}))
"""


# -- with rcmd ---------------------------------------------------------------------------


def test_anyone_may_list(running: Lab) -> None:
    r = cfgadm_as_nobody(running, "-l")
    assert r.returncode == 0, show(r, running)
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:] if line.strip()}
    assert rows["net:nic0"][-3:] == ["connected", "configured", "ok"], show(r, running)
    assert "net:nic1" in rows, show(r, running)
    r = cfgadm_as_nobody(running, "-lv", "net:nic0")
    assert r.returncode == 0, show(r, running)
    assert "192.0.2.10/24" in r.stdout, show(r, running)


def test_only_root_changes_state_cli(running: Lab) -> None:
    for args in (("-c", "unconfigure", "net:nic0"), ("-f", "-c", "unconfigure", "net:nic0")):
        r = cfgadm_as_nobody(running, *args)
        assert r.returncode == 1, show(r, running)
        assert "permission denied" in r.stderr.lower(), show(r, running)
        assert "Traceback" not in r.stderr, show(r, running)
    assert_unchanged(running)
    assert "unconfigure" not in running.rcmd_log(), running.rcmd_log()


def test_daemon_checks_peer_credentials(running: Lab) -> None:
    """Not just cfgadm: a raw client with uid 65534 that says it is root is denied."""
    r = subprocess.run(
        running.exec_argv(
            "host", [sys.executable, "-c", RAW_CLIENT, str(running.runtime_dir), str(NOBODY)]
        ),
        capture_output=True,
        text=True,
        env=running.env(),
        timeout=60,
    )
    assert r.returncode == 0, show(r, running)
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["uid"] == got["euid"] == NOBODY, got
    assert int(got["capeff"], 16) == 0, got
    assert got["answer"]["outcome"] == "denied", got
    assert "permission denied" in got["answer"]["message"], got
    assert_unchanged(running)
    # The same request from root is served (the denial was about the peer, not the request).
    answer = ask(
        running.socket_path,
        json.dumps({"op": "change_state", "action": "unconfigure", "ap_id": "net:nic0"}).encode()
        + b"\n",
    )
    assert answer["outcome"] == "done", answer
    assert running.wait_for_addresses("nic1", [V4_10, V6_10]), running.snapshot()


BAD_REQUESTS: dict[str, bytes] = {
    "not json": b"this is not json\n",
    "empty line": b"\n",
    "nothing at all": b"",
    "not an object": b"[1, 2, 3]\n",
    "a string": b'"list"\n',
    "unknown op": b'{"op": "reboot"}\n',
    "no op": b'{"ap_ids": []}\n',
    "ap_ids not a list": b'{"op": "list", "ap_ids": "net:nic0"}\n',
    "ap_id not a string": b'{"op": "change_state", "action": "unconfigure", "ap_id": 5}\n',
    "unknown action": b'{"op": "change_state", "action": "explode", "ap_id": "net:nic0"}\n',
    "invalid utf-8": b'{"op": "list\xff\xfe"}\n',
    "huge line": b'{"op": "list", "pad": "' + b"x" * (70 * 1024) + b'"}\n',
    "huge, no newline": b"y" * (200 * 1024),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_gets_error_and_rcmd_keeps_serving(running: Lab, name: str) -> None:
    answer = ask(running.socket_path, BAD_REQUESTS[name])
    assert set(answer) == {"error"}, answer
    assert isinstance(answer["error"], str) and answer["error"], answer
    assert len(json.dumps(answer)) < 1024, "the error must not echo the request back"
    assert running.rcmd_running(), running.snapshot()
    listing = ask(running.socket_path, b'{"op": "list", "ap_ids": ["net:nic0"]}\n')
    assert [ap["ap_id"] for ap in listing["aps"]] == ["net:nic0"], listing
    r = running.cfgadm("-l", "net:nic0")
    assert r.returncode == 0, show(r, running)
    assert "Traceback" not in running.rcmd_log(), running.rcmd_log()
    assert_unchanged(running)


# -- without rcmd: the engine in cfgadm's process ----------------------------------------


@pytest.fixture
def stopped(built: Lab) -> Lab:
    """rcmd ran once (it restores the data addresses: the lab only makes links), then
    stopped: its socket is gone, so cfgadm runs the engine itself."""
    built.start_rcmd()
    assert restored(built), built.snapshot()
    assert built.stop_rcmd() == 0, built.rcmd_log()
    assert not built.socket_path.exists()
    assert_unchanged(built)
    return built


def test_in_process_list(stopped: Lab) -> None:
    r = stopped.cfgadm("-l")
    assert r.returncode == 0, show(r, stopped)
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:] if line.strip()}
    assert rows["net:nic0"][-3:] == ["connected", "configured", "ok"], show(r, stopped)
    r = cfgadm_as_nobody(stopped, "-l", "net:nic0")
    assert r.returncode == 0, show(r, stopped)
    assert "net:nic0" in r.stdout, show(r, stopped)
    r = cfgadm_as_nobody(stopped, "-c", "unconfigure", "net:nic0")
    assert r.returncode == 1 and "permission denied" in r.stderr.lower(), show(r, stopped)
    assert not stopped.socket_path.exists()
    assert_unchanged(stopped)


def test_in_process_state_change_end_to_end(stopped: Lab) -> None:
    r = stopped.cfgadm("-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, show(r, stopped)
    assert "nic0" in stopped.links_in("holding"), show(r, stopped)
    assert stopped.where_are(V4_10) == ["nic1"], show(r, stopped)
    assert stopped.where_are(V6_10) == ["nic1"], show(r, stopped)
    r = stopped.cfgadm("-l", "net:nic0")
    assert r.returncode == 0 and r.stdout.splitlines()[1].split()[-2] == "unconfigured", show(
        r, stopped
    )

    r = stopped.cfgadm("-c", "configure", "net:nic0")
    assert r.returncode == 0, show(r, stopped)
    assert restored(stopped), show(r, stopped)
    assert_unchanged(stopped)
    # The lock was released when cfgadm ended: rcmd starts and finds nothing to recover.
    stopped.start_rcmd()
    assert "recovered operation" not in stopped.rcmd_log(), stopped.rcmd_log()


def test_in_process_writers_exclude_each_other(stopped: Lab) -> None:
    lock_path = stopped.runtime_dir / "rcm.lock"
    with open(lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(f"test (pid {os.getpid()})\n")
        held.flush()

        r = stopped.cfgadm("-c", "unconfigure", "net:nic0")
        assert r.returncode == 1, show(r, stopped)
        assert "busy" in r.stderr.lower(), show(r, stopped)
        assert "Traceback" not in r.stderr, show(r, stopped)
        assert_unchanged(stopped)
        # Listing needs no lock.
        r = stopped.cfgadm("-l", "net:nic0")
        assert r.returncode == 0, show(r, stopped)
        # Nor can rcmd start beside a writer.
        with pytest.raises(RcmdError) as caught:
            stopped.start_rcmd(timeout=15)
        assert caught.value.returncode == 1, caught.value.log
        assert "busy" in caught.value.log.lower(), caught.value.log
        fcntl.flock(held, fcntl.LOCK_UN)

    r = stopped.cfgadm("-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, show(r, stopped)
    assert stopped.where_are(V4_10) == ["nic1"], show(r, stopped)


def test_silent_client_is_dropped_quietly(running: Lab) -> None:
    """A local user who connects and sends nothing (the socket is 0666) gets an error when
    rcmd's read times out, and leaves no traceback in rcmd's log: an expected client
    fault must not be logged as an internal error."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(str(running.socket_path))
        buf = bytearray()
        while not buf.endswith(b"\n") and (chunk := s.recv(65536)):
            buf += chunk
    answer = json.loads(buf)
    assert set(answer) == {"error"}, answer
    assert not answer["error"].startswith("internal error"), answer
    log = running.rcmd_log()
    assert "Traceback" not in log, log
    r = running.cfgadm("-l", "net:nic0")
    assert r.returncode == 0, show(r, running)


def test_forced_unconfigure_says_what_it_forced_past_once(running: Lab) -> None:
    """The last working member of group g: vetoed (data) without -f, with a hint; -fn shows
    what -f would override and changes nothing; a script's -f acts and says it once."""
    r = running.cfgadm("-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, show(r, running)
    r = running.cfgadm("-c", "unconfigure", "net:nic1")
    assert r.returncode == 1, show(r, running)
    assert r.stderr.startswith("cfgadm: Component system is busy, try again:"), show(r, running)
    assert r.stderr.splitlines()[-1] == "use -f to override", show(r, running)
    assert max(len(line) for line in r.stderr.splitlines()[1:]) <= 80, show(r, running)
    r = running.cfgadm("-fn", "-c", "unconfigure", "net:nic1")
    assert r.returncode == 1 and "-f would override" in r.stderr, show(r, running)
    assert "net:nic1 left unchanged" in r.stderr, show(r, running)
    assert "nic1" in running.links_in("host"), show(r, running)

    r = running.cfgadm("-f", "-c", "unconfigure", "net:nic1")
    assert r.returncode == 0, show(r, running)
    lines = r.stderr.splitlines()
    assert lines[0] == "cfgadm: unconfigure net:nic1 done; -f overrode:", show(r, running)
    data_rows = [line for line in lines if line.split()[1:2] == ["data"]]
    assert len(data_rows) == 1 and data_rows[0].startswith("net/nic1"), show(r, running)
    assert "vetoed" not in r.stderr and "busy" not in r.stderr, show(r, running)
    assert "nic1" in running.links_in("holding"), show(r, running)


# -- what a command leaves behind ----------------------------------------------------------


def _cfgadm_here(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """cfgadm as root in this namespace (nothing of the lab's), no rcmd."""
    cfgadm = str(Path(sys.executable).with_name("cfgadm"))
    return subprocess.run(
        [cfgadm, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def _rcm_dirs(tmp_path: Path) -> dict[str, str]:
    return {
        "RCM_CONFIG_DIR": str(tmp_path / "config"),
        "RCM_STATE_DIR": str(tmp_path / "state"),
        "RCM_RUNTIME_DIR": str(tmp_path / "runtime"),
    }


@pytest.mark.parametrize(
    "args",
    [
        ("-c", "unconfigure", "net:doesnotexist"),
        ("-f", "-c", "unconfigure", "net:doesnotexist"),
        ("-c", "configure", "net:doesnotexist"),
        ("-c", "configure", "nosuchclass:x"),
        ("-l", "net:doesnotexist"),
    ],
)
def test_failed_lookup_leaves_nothing_behind(lab: None, tmp_path: Path, args) -> None:
    """No rcmd, as root: a mistyped ap_id creates neither the runtime folder (lock) nor the
    state folder and its database; they are made only when a change is certain."""
    r = _cfgadm_here(_rcm_dirs(tmp_path), *args)
    assert r.returncode == 1, r
    assert r.stderr == f"cfgadm: Attachment point not found: {args[-1]}\n", r
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.rglob("*"))


# -- rcmd --check-config -------------------------------------------------------------------


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    rcmd = str(Path(sys.executable).with_name("rcmd"))
    return subprocess.run(
        [rcmd, "--check-config"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_check_config_says_what_it_read(built: Lab) -> None:
    r = _check_config(built.env())
    assert r.returncode == 0, r
    out = r.stdout.splitlines()
    assert out[-1] == "rcmd: configuration is valid", r.stdout
    facts = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in out[:4]}
    assert facts == {
        "config folder": str(built.config_dir),
        "rcm.toml": str(built.config_dir / "rcm.toml"),
        "state folder": str(built.state_dir),
        "runtime folder": str(built.runtime_dir),
    }, r.stdout
    # "  <name>  <module>: <summary>", the summary being the handler's own line.
    handlers = {
        line.split()[0]: line.split()[1].rstrip(":") for line in out if line.startswith("  ")
    }
    # Every installed handler (a third party's too: scripts/test.sh installs the example).
    from rcm.entrypoints import entry_points

    assert set(handlers) == {ep.name for ep in entry_points(group="rcm.plugins")}, r.stdout
    built_in = {
        "cluster": "rcm_cluster.handler",
        "cpu": "rcm_cpu.plugin",
        "hw": "rcm_hw.plugin",
        "ipmp": "rcm_ipmp.handler",
        "net": "rcm_net.plugin",
        "scripts": "rcm_scripts.plugin",
        "storage": "rcm_storage.plugin",
    }
    assert {name: handlers.get(name) for name in built_in} == built_in, r.stdout
    assert any(line.split()[:2] == ["ipmp", "rcm_ipmp.handler:"] for line in out), r.stdout
    assert (
        "ap classes:     cpu (hw), mem (hw), net (net), pci (hw), pcidev (hw), scsi (hw), usb (hw)"
        in out
    ), r.stdout


def test_check_config_without_a_config_folder_says_so(lab: None, tmp_path: Path) -> None:
    r = _check_config(_rcm_dirs(tmp_path))
    assert r.returncode == 0, r
    assert f"config folder:  {tmp_path / 'config'} (missing)" in r.stdout.splitlines(), r.stdout
    assert r.stdout.splitlines()[-1] == "rcmd: configuration is valid", r.stdout
    assert list(tmp_path.iterdir()) == [], "checking creates nothing"


# -- issue 9: field types (fault 6), hostile JSON (fault 7), the client's long request ---


def _change(ap_id: str, **fields: Any) -> bytes:
    request = {"op": "change_state", "action": "unconfigure", "ap_id": ap_id, **fields}
    return json.dumps(request).encode() + b"\n"


def test_force_as_a_string_is_a_bad_request_not_true(running: Lab) -> None:
    """Fault 6: ``"force": "false"`` was read as true and forced the last member of group g
    out past its data veto."""
    assert ask(running.socket_path, _change("net:nic0"))["outcome"] == "done"
    answer = ask(running.socket_path, _change("net:nic1", force="false"))
    assert set(answer) == {"error"}, answer
    assert answer["error"].startswith("bad request: force"), answer
    assert "nic1" in running.links_in("host"), running.snapshot()
    assert {V4_10, V6_10} <= set(running.addresses("nic1")), running.snapshot()


WRONG_TYPES: dict[str, tuple[bytes, str]] = {
    "query_only a string": (_change("net:nic0", query_only="false"), "query_only"),
    "query_only a number": (_change("net:nic0", query_only=1), "query_only"),
    "force null": (_change("net:nic0", force=None), "force"),
    "action a number": (_change("net:nic0").replace(b'"unconfigure"', b"5"), "action"),
    "verbose a string": (b'{"op": "list", "verbose": "no"}\n', "verbose"),
    "ap_ids of numbers": (b'{"op": "list", "ap_ids": [1, 2]}\n', "ap_ids"),
    "ap_ids null": (b'{"op": "list", "ap_ids": null}\n', "ap_ids"),
    "op a list": (b'{"op": ["list"]}\n', "op"),
}


@pytest.mark.parametrize("name", list(WRONG_TYPES))
def test_every_field_is_checked_by_type(running: Lab, name: str) -> None:
    """Fault 6: a field of the wrong type is a bad request naming the field, and nothing
    happens (``"query_only": "false"`` was read as a query, and so on)."""
    payload, field = WRONG_TYPES[name]
    answer = ask(running.socket_path, payload)
    assert set(answer) == {"error"}, answer
    assert answer["error"].startswith(f"bad request: {field}"), answer
    assert_unchanged(running)
    assert "Traceback" not in running.rcmd_log(), running.rcmd_log()


HOSTILE: dict[str, bytes] = {
    "lone surrogate in ap_id": b'{"op": "list", "ap_ids": ["net:\\ud800"]}\n',
    "lone surrogate in change": b'{"op": "change_state", "action": "unconfigure",'
    b' "ap_id": "net:\\udfff"}\n',
    "lone surrogate in op": b'{"op": "\\ud800"}\n',
    # Under the 64 KiB line limit, far over Python's recursion limit (1000).
    "deep nesting": b'{"op": "list", "x": ' + b"[" * 20000 + b"]" * 20000 + b"}\n",
    "deep nesting, objects": b'{"a":' * 8000 + b"1" + b"}" * 8000 + b"\n",
    "nul in ap_id": b'{"op": "list", "ap_ids": ["net:nic0\\u0000"]}\n',
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_json_is_answered_and_logged_in_one_line(running: Lab, name: str) -> None:
    """Fault 7: valid JSON that is hostile (a lone surrogate, deep nesting) put tracebacks in
    rcmd's log.  Now: an error answer, one line in the log, and rcmd serves on."""
    before = len(running.rcmd_log())  # the lab's readiness probe was a bad request too
    answer = ask(running.socket_path, HOSTILE[name])
    assert set(answer) == {"error"}, answer
    assert answer["error"].startswith("bad request: "), answer
    assert len(json.dumps(answer)) < 1024, answer
    log = running.rcmd_log()[before:]
    assert "Traceback" not in log and "Logging error" not in log, log
    assert [line for line in log.splitlines() if "bad request" in line] == log.splitlines(), log
    assert len(log.splitlines()) == 1, log
    r = running.cfgadm("-l", "net:nic0")
    assert r.returncode == 0, show(r, running)
    assert_unchanged(running)


def test_list_longer_than_rcmd_accepts_says_why(running: Lab) -> None:
    """``cfgadm -l`` with over 64 KiB of ap_ids said "lost contact with rcmd … Broken pipe";
    now the reason: the request is longer than rcmd accepts."""
    ap_ids = [f"net:x{i:06d}" for i in range(30000)]  # ~420 KiB of JSON
    r = running.cfgadm("-l", *ap_ids)
    assert r.returncode == 1, show(r, running)
    assert r.stderr == "cfgadm: bad request: request longer than 65536 bytes\n", show(r, running)
    assert running.rcmd_running(), running.snapshot()


def test_client_and_server_agree_on_the_longest_request() -> None:
    from rcm import client, control

    assert client.MAX_REQUEST == control.MAX_REQUEST


def test_client_shows_rcmds_reason_when_rcmd_stops_reading(
    running: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the client's own length check, rcmd refuses the long request and closes while
    the client is still sending; the client reads rcmd's answer instead of "Broken pipe"."""
    from rcm import client
    from rcm.errors import RcmError

    monkeypatch.setattr(client, "MAX_REQUEST", 1 << 30, raising=False)
    service = client.RemoteService(str(running.socket_path))
    with pytest.raises(RcmError) as caught:
        service.list_aps([f"net:x{i:06d}" for i in range(30000)], False)
    assert str(caught.value) == "bad request: request longer than 65536 bytes"
    assert running.rcmd_running(), running.snapshot()


# -- nobody locks root out -----------------------------------------------------------------

FLOOD_CLIENT = r"""
import os, select, socket, sys, time
runtime, uid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.chdir(runtime)
os.setgroups([])
os.setgid(uid)
os.setuid(uid)

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("rcmd.sock")
    return s

# n idle connections that never send a byte; any that rcmd answers or closes is
# opened again at once, as an attacker would, until our stdin closes.
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


LIST_CLIENT = r"""
import json, os, socket, sys
runtime, uid = sys.argv[1], int(sys.argv[2])
os.chdir(runtime)
os.setgroups([])
os.setgid(uid)
os.setuid(uid)
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(30)
    s.connect("rcmd.sock")
    s.sendall(b'{"op": "list", "ap_ids": ["net:nic0"]}\n')
    buf = b""
    while not buf.endswith(b"\n") and (chunk := s.recv(65536)):
        buf += chunk
print(buf.decode().strip())
"""


def list_as(lab: Lab, uid: int) -> dict[str, Any]:
    """A raw listing request from ``uid`` (no capability left); the parsed answer."""
    r = subprocess.run(
        [sys.executable, "-c", LIST_CLIENT, str(lab.runtime_dir), str(uid)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    answer: dict[str, Any] = json.loads(r.stdout)
    return answer


def test_idle_unprivileged_flood_does_not_lock_root_out(running: Lab) -> None:
    """The socket is 0666, so any local user can open connections and send nothing.  100 such
    connections from uid 65534, reopened as soon as rcmd drops them, must not stop root's
    state change: root has capacity no other uid can take.  Once the flood is gone an
    unprivileged listing works again."""
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD_CLIENT, str(running.runtime_dir), str(NOBODY), "100"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert flood.stdout is not None and flood.stdout.readline() == "ready\n"
        assert flood.poll() is None, "the flood ended early"
        r = running.cfgadm("-c", "unconfigure", "net:nic0")
        assert r.returncode == 0, show(r, running)
        assert running.wait_for_addresses("nic1", [V4_10, V6_10]), running.snapshot()
        # A raw state-changing request from root too (on a socket of our own).
        answer = ask(
            running.socket_path,
            json.dumps({"op": "change_state", "action": "configure", "ap_id": "net:nic0"}).encode()
            + b"\n",
        )
        assert answer.get("outcome") == "done", answer
        # Another ordinary user can still list during the flood.
        listing = list_as(running, NOBODY - 1)
        assert [ap["ap_id"] for ap in listing.get("aps", [])] == ["net:nic0"], listing
        assert flood.poll() is None, "the flood must still be running"
    finally:
        assert flood.stdin is not None
        flood.stdin.close()  # the flood's signal to close its connections and exit
        try:
            flood.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(flood.pid, signal.SIGKILL)
            flood.wait()
    r = cfgadm_as_nobody(running, "-l", "net:nic0")
    assert r.returncode == 0, show(r, running)
    assert "Traceback" not in running.rcmd_log(), running.rcmd_log()
