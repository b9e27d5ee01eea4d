"""Live reload: SIGHUP and ``rcmd reload`` apply only the difference, and a
bad new configuration is refused in one line while the old one stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ipmpkit import V4_10, V4_11, V6_10, V6_11, open_to_all, start, tool
from rcm_ipmp.config import IpmpConfig, load_config
from rcm_ipmp.reload import summary
from rcm_lab import Lab, wait_until

pytestmark = pytest.mark.lab

NEW = "192.0.2.12/24"


def _cfg(tmp: Path, groups: str, **files: str) -> IpmpConfig:
    (tmp / "interfaces").mkdir(parents=True, exist_ok=True)
    (tmp / "ipmp.toml").write_text(groups)
    for name, text in files.items():
        (tmp / "interfaces" / f"{name}.toml").write_text(text)
    return load_config(tmp)


def test_summary_names_what_changed(tmp_path: Path) -> None:
    old = _cfg(tmp_path / "a", "[groups.g]\n", nic0='group = "g"\naddresses = ["192.0.2.10/24"]\n')
    new = _cfg(
        tmp_path / "b",
        "[groups.g]\nannounce_count = 5\n",
        nic0='group = "g"\naddresses = ["192.0.2.10/24", "192.0.2.12/24"]\n',
        nic2='group = "g"\nstandby = true\n',
    )
    assert summary(old, new) == (
        "group g: announce_count 3 -> 5; nic0: data addresses +192.0.2.12/24; added nic2 (group g)"
    )
    assert summary(new, new) == "no change"


@pytest.fixture
def running(lab: None) -> Iterator[Any]:
    made = Lab(nics=("nic0", "nic1", "nic2"))
    try:
        made.build()
        yield start(made)
    finally:
        made.close()


def _monitor(lab: Any) -> subprocess.Popen[str]:
    """``ip monitor address`` in the host namespace: every address the kernel
    adds or deletes from now on."""
    mon = subprocess.Popen(
        ["ip", "-n", lab.ns["host"], "monitor", "address"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(0.3)  # subscribed before anything changes
    return mon


def _stop(mon: subprocess.Popen[str]) -> str:
    os.killpg(mon.pid, signal.SIGTERM)
    out, _ = mon.communicate(timeout=5)
    return out


def _rcmd_pid(lab: Any) -> int:
    proc = lab._rcmd
    assert proc is not None
    # rcmd runs under `ip netns exec`, which execs it: same pid
    return int(proc.pid)


def test_sighup_applies_only_the_difference(running: Any) -> None:
    lab = running
    conv = lab.conversation("192.0.2.10")
    lab.interfaces = dict(lab.interfaces)
    lab.interfaces["nic0"] = {**lab.interfaces["nic0"], "addresses": [V4_10, V6_10, NEW]}
    lab.interfaces["nic2"] = {"group": "g", "standby": True}
    lab.groups = {"g": {"failback": True, "announce_count": 2}}
    lab.write_config()
    mon = _monitor(lab)
    os.kill(_rcmd_pid(lab), signal.SIGHUP)
    assert lab.wait_for_addresses("nic0", [NEW]), lab.snapshot()
    assert wait_until(lambda: "configuration reloaded" in lab.rcmd_log(), 5), lab.rcmd_log()
    events = _stop(mon)
    # the new address was added, and nothing else was added or deleted:
    # the unchanged addresses are the same kernel objects as before
    assert "Deleted" not in events, events
    # (the kernel's own link-local addresses may finish DAD meanwhile: not ours)
    touched = [line for line in events.splitlines() if "scope global" in line]
    assert touched and all("192.0.2.12/24" in line for line in touched), events
    assert set(lab.addresses("nic0")) == {V4_10, V6_10, NEW}, lab.snapshot()
    assert set(lab.addresses("nic1")) == {V4_11, V6_11}, lab.snapshot()
    assert "group g: announce_count 3 -> 2" in lab.rcmd_log()
    r = tool(lab, "ipmpstat", "-P", "-o", "interface,active,flags", "-i")
    assert "nic2:no:is-----" in r.stdout.splitlines(), r.stdout  # the new standby member
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()


def test_rcmd_reload_refuses_a_bad_configuration_and_keeps_the_old(running: Any) -> None:
    lab = running
    rcmd = str(Path(sys.executable).with_name("rcmd"))
    good_ipmp = (lab.config_dir / "ipmp.toml").read_text()
    (lab.config_dir / "ipmp.toml").write_text(good_ipmp + "announce_count = 0\n")
    (lab.config_dir / "interfaces" / "nic0.toml").write_text(
        'group = "g"\naddresses = ["192.0.2.10/24"]\n'  # would drop 2001:db8::10 ...
    )
    (lab.config_dir / "interfaces" / "nic2.toml").write_text('group = "nosuch"\n')
    r = subprocess.run(
        lab.exec_argv("host", [rcmd, "reload"]), capture_output=True, text=True, env=lab.env()
    )
    assert r.returncode == 1, r
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("rcmd: reload refused: "), r.stderr
    assert "the configuration in force stays" in r.stderr, r.stderr
    # ... but nothing changed: the old configuration is in force
    assert set(lab.addresses("nic0")) == {V4_10, V6_10}, lab.snapshot()
    assert lab.rcmd_running()

    # fixed, the same command applies it
    (lab.config_dir / "ipmp.toml").write_text(good_ipmp)
    (lab.config_dir / "interfaces" / "nic2.toml").unlink()
    r = subprocess.run(
        lab.exec_argv("host", [rcmd, "reload"]), capture_output=True, text=True, env=lab.env()
    )
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[-1] == "rcmd: configuration reloaded", r.stdout
    assert "nic0: data addresses -2001:db8::10/64" in r.stdout, r.stdout
    assert lab.wait_for_addresses("nic0", [V6_10], present=False), lab.snapshot()
    assert lab.where_are(V6_10) == [], lab.snapshot()


def test_reload_is_root_only(running: Any) -> None:
    lab = running
    open_to_all(lab)
    code = (
        "import sys; from rcm.client import RemoteService, _connect; from rcm.paths import "
        "socket_path; p = socket_path(); s = RemoteService(p, _connect(p))\n"
        "try:\n    s.reload()\nexcept Exception as e:\n    print(e)"
    )
    r = subprocess.run(
        lab.exec_argv(
            "host",
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                code,
            ],
        ),
        capture_output=True,
        text=True,
        env=lab.env(),
    )
    assert r.stdout.strip() == "permission denied: only root may reload rcmd", r
