"""Configuration rcmd obeys must be root's, a regular file, small, and well formed.

Issue 9, faults 3, 4 and 5 (configuration part): each case is a real file in a
throwaway folder, checked by the real ``rcmd --check-config`` (and ``cfgadm``
in-process where it reads configuration): one line on stderr naming the file
(and the key), exit status 1, no traceback, no hang.  The other user is uid
65534 (nobody), set with chown: the tests need root.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from rcm.errors import ConfigError
from rcm.settings import load_settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")

NOBODY = 65534
GOOD = {
    "rcm.toml": "[handlers]\ntimeout = 5\n",
    "ipmp.toml": "[groups.g]\n",
    "interfaces/nic0.toml": 'group = "g"\naddresses = ["192.0.2.10/24"]\n',
}


def make_config(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    (etc / "interfaces").mkdir(parents=True)
    for name, text in GOOD.items():
        (etc / name).write_text(text)
    return etc


def _limit_memory() -> None:
    # Before the fix a symlink to /dev/zero read until memory ran out: bound it,
    # so that the failing run fails fast instead of starving the machine.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``rcmd --check-config`` (or ``cfgadm argv``) on tmp_path's folders."""
    tool = "rcmd" if not argv else "cfgadm"
    cmd = [str(Path(sys.executable).with_name(tool)), *(argv or ("--check-config",))]
    env = {
        **os.environ,
        "RCM_CONFIG_DIR": str(tmp_path / "etc"),
        "RCM_STATE_DIR": str(tmp_path / "state"),
        "RCM_RUNTIME_DIR": str(tmp_path / "run"),
    }
    env.pop("RCM_SOCKET", None)
    return subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,  # a FIFO hung start before the fix: fail, do not wait forever
        preexec_fn=_limit_memory,
        start_new_session=True,
    )


DOCS = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()


def assert_refused(r: subprocess.CompletedProcess[str], tool: str, line: str) -> None:
    assert r.returncode == 1, r
    assert r.stderr == f"{tool}: {line}\n", r


def assert_documented(tmp_path: Path, line: str) -> None:
    """docs/configuration.md shows ``line`` as it reads for files under /etc/rcm."""
    shown = line.replace(str(tmp_path / "etc"), "/etc/rcm").replace(str(tmp_path), "")
    assert f"\n{shown}\n" in DOCS, shown


def test_a_good_configuration_is_accepted(tmp_path: Path) -> None:
    """The checks below refuse only what is unsafe: tmp_path sits under /tmp
    (sticky, world-writable), which is fine."""
    make_config(tmp_path)
    r = run(tmp_path)
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[-1] == "rcmd: configuration is valid", r


# -- fault 3: configuration another user can change ---------------------------------------


def _chown(path: Path) -> None:
    os.chown(path, NOBODY, NOBODY)


UNSAFE: list[tuple[str, Callable[[Path], None], str]] = [
    ("interfaces/nic0.toml", _chown, "refused: owned by uid 65534, not root"),
    (
        "interfaces/nic0.toml",
        lambda p: p.chmod(0o666),
        "refused: writable by group or others (mode 666)",
    ),
    ("rcm.toml", lambda p: p.chmod(0o666), "refused: writable by group or others (mode 666)"),
    ("rcm.toml", lambda p: p.chmod(0o620), "refused: writable by group or others (mode 620)"),
    ("ipmp.toml", _chown, "refused: owned by uid 65534, not root"),
    ("", lambda p: p.chmod(0o777), "refused: folder writable by group or others (mode 777)"),
    ("", _chown, "refused: folder owned by uid 65534, not root"),
    (
        "interfaces",
        lambda p: p.chmod(0o777),
        "refused: folder writable by group or others (mode 777)",
    ),
]


@pytest.mark.parametrize(("name", "spoil", "fault"), UNSAFE)
def test_configuration_another_user_can_change_is_refused(
    tmp_path: Path, name: str, spoil: Callable[[Path], None], fault: str
) -> None:
    etc = make_config(tmp_path)
    target = etc / name if name else etc
    spoil(target)
    assert_refused(run(tmp_path), "rcmd", f"{target}: {fault}")
    if "620" not in fault:
        assert_documented(tmp_path, f"{target}: {fault}")
    # cfgadm's in-process engine reads the same files and says the same.
    assert_refused(run(tmp_path, "-l"), "cfgadm", f"{target}: {fault}")


def test_a_world_writable_folder_is_refused_even_without_rcm_toml(tmp_path: Path) -> None:
    """Another user could remove or plant files there: the folder itself is at fault."""
    etc = make_config(tmp_path)
    (etc / "rcm.toml").unlink()
    etc.chmod(0o777)
    assert_refused(
        run(tmp_path), "rcmd", f"{etc}: refused: folder writable by group or others (mode 777)"
    )


def test_a_symlink_to_a_safe_file_is_followed(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    real = tmp_path / "shared-nic0.toml"
    (etc / "interfaces" / "nic0.toml").rename(real)
    (etc / "interfaces" / "nic0.toml").symlink_to(real)
    r = run(tmp_path)
    assert r.returncode == 0, r


def test_a_symlink_to_another_users_file_is_refused(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    (tmp_path / "srv").mkdir()
    real = tmp_path / "srv" / "nic0.toml"
    link = etc / "interfaces" / "nic0.toml"
    link.rename(real)
    link.symlink_to(real)
    _chown(real)
    line = f"{link}: refused: owned by uid 65534, not root (symlink to {real})"
    assert_refused(run(tmp_path), "rcmd", line)
    assert_documented(tmp_path, line)


# -- fault 4: not a regular file, or too big ----------------------------------------------


def test_a_fifo_is_refused_at_once_naming_the_file(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    fifo = etc / "interfaces" / "nic1.toml"
    os.mkfifo(fifo)
    assert_refused(run(tmp_path), "rcmd", f"{fifo}: not a regular file but a FIFO")
    assert_documented(tmp_path, f"{fifo}: not a regular file but a FIFO")


def test_a_fifo_as_rcm_toml_is_refused(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    (etc / "rcm.toml").unlink()
    os.mkfifo(etc / "rcm.toml")
    assert_refused(run(tmp_path), "rcmd", f"{etc / 'rcm.toml'}: not a regular file but a FIFO")


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    link = etc / "interfaces" / "nic1.toml"
    link.symlink_to("/dev/zero")
    line = f"{link}: not a regular file but a character device (symlink to /dev/zero)"
    assert_refused(run(tmp_path), "rcmd", line)
    assert_documented(tmp_path, line)


def test_a_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    big = etc / "ipmp.toml"
    big.write_text("[groups.g]\n" + "# padding\n" * 110_000)  # valid TOML, 1.1 MB
    line = f"{big}: larger than 1048576 bytes (1 MiB): {big.stat().st_size} bytes or more"
    assert_refused(run(tmp_path), "rcmd", line)
    assert_documented(tmp_path, line)


def test_a_dangling_symlink_is_a_fault_not_a_missing_file(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    link = etc / "rcm.toml"
    link.unlink()
    link.symlink_to(etc / "gone.toml")
    with pytest.raises(ConfigError) as caught:
        load_settings(link)
    line = (
        f"{link}: cannot read: {etc / 'gone.toml'} does not exist (symlink to {etc / 'gone.toml'})"
    )
    assert str(caught.value) == line
    assert_refused(run(tmp_path), "rcmd", line)
    assert_documented(tmp_path, line)


# -- fault 5: rcm.toml not UTF-8, timeouts out of range -----------------------------------


def test_rcm_toml_not_utf8_is_one_line(tmp_path: Path) -> None:
    etc = make_config(tmp_path)
    (etc / "rcm.toml").write_bytes(b"[handlers]\ntimeout = 5 # caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(etc / "rcm.toml")
    line = f"{etc / 'rcm.toml'}: not UTF-8 text (line 2, byte 28)"
    assert str(caught.value) == line
    assert_refused(run(tmp_path), "rcmd", line)
    assert_documented(tmp_path, line)


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e-300", "99999999999", "0.05", "86401"])
def test_a_timeout_out_of_range_is_one_line(tmp_path: Path, value: str) -> None:
    etc = make_config(tmp_path)
    (etc / "rcm.toml").write_text(f"[handlers]\ntimeout = {value}\n")
    shown = repr(tomllib.loads(f"t = {value}")["t"])
    line = (
        f"{etc / 'rcm.toml'}: handlers.timeout: must be a number of seconds"
        f" from 0.1 to 86400 (1 day), not {shown}"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(etc / "rcm.toml")
    assert str(caught.value) == line
    assert_refused(run(tmp_path), "rcmd", line)


@pytest.mark.parametrize("value", ["0.1", "86400", "30"])
def test_a_timeout_in_range_is_accepted(tmp_path: Path, value: str) -> None:
    etc = make_config(tmp_path)
    (etc / "rcm.toml").write_text(f"[handlers]\ntimeout = {value}\n")
    assert load_settings(etc / "rcm.toml") == {"handlers": {"timeout": float(value)}}
    assert run(tmp_path).returncode == 0


# -- the helper plugins use for files of their own -------------------------------------------


def test_the_public_helper_reads_what_rcm_reads(tmp_path: Path) -> None:
    from rcm.configfile import read_config_text, read_config_toml

    etc = make_config(tmp_path)
    assert read_config_toml(etc / "missing.toml") is None
    assert read_config_text(etc / "missing.toml") is None
    assert read_config_toml(etc / "ipmp.toml") == {"groups": {"g": {}}}
    assert read_config_text(etc / "ipmp.toml") == "[groups.g]\n"
    (etc / "ipmp.toml").chmod(0o666)
    with pytest.raises(ConfigError) as caught:
        read_config_toml(etc / "ipmp.toml")
    assert (caught.value.path, caught.value.key, caught.value.fault) == (
        str(etc / "ipmp.toml"),
        "",
        "refused: writable by group or others (mode 666)",
    )
