"""Acceptance: a shell RCM script vetoes a real detach, against the real kernel.

The example script (examples/shell_script/nic_guard) is installed as its README says: copied
into the lab's ``$RCM_CONFIG_DIR/scripts`` (mode 0755, owned by root) with ``nic_guard.conf``
beside that folder.  rcmd runs in the lab's host namespace with its built-in handlers, the
scripts handler among them; ``cfgadm -c unconfigure net:nic0`` is refused with the script's
reason and nic0 stays; ``-f`` gets past it, the script's ``preremove`` sees
``RCM_ENV_FORCE=TRUE``, and nic0 leaves for the holding namespace with its data addresses
moved to nic1 by the IPMP handler; ``configure`` brings it back and the script hears
``undoremove``.  The ``lab`` fixture skips without root and fails under RCM_REQUIRE_LAB=1.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "examples" / "shell_script" / "nic_guard"
REASON = "carries the backup link to 192.0.2.50"
V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"


@pytest.fixture
def guarded(lab: None) -> Iterator[Any]:
    """A built lab with nic_guard installed for net/nic0, rcmd running."""
    from rcm_lab import Lab

    made = Lab(rcm_settings={"plugins": {"scripts": {"dirs": []}}})  # never /usr/lib/rcm/scripts
    try:
        made.build()
        scripts = made.config_dir / "scripts"
        scripts.mkdir(mode=0o755)
        scripts.chmod(0o755)
        shutil.copy(SCRIPT, scripts / "nic_guard")
        (scripts / "nic_guard").chmod(0o755)
        (made.config_dir / "nic_guard.conf").write_text(f"net/nic0   data   {REASON}\n")
        made.start_rcmd()
        assert made.wait_for_addresses("nic0", [V4_10, V6_10]), made.snapshot()
        yield made
    finally:
        made.close()


def show(r: subprocess.CompletedProcess[str], lab: Any) -> str:
    return (
        f"$ {' '.join(map(str, r.args))}\nexit {r.returncode}\n--- stdout ---\n{r.stdout}"
        f"--- stderr ---\n{r.stderr}\n--- rcmd ---\n{lab.rcmd_log_tail()}\n{lab.snapshot()}"
    )


def test_a_shell_script_vetoes_a_real_detach_and_force_gets_past_it(guarded: Any) -> None:
    lab = guarded
    r = lab.cfgadm("-lv", "net:nic0")
    assert r.returncode == 0, show(r, lab)
    assert f"nic_guard: {REASON}" in " ".join(r.stdout.split()), show(r, lab)

    r = lab.cfgadm("-c", "unconfigure", "net:nic0")
    assert r.returncode == 1, show(r, lab)
    text = " ".join(r.stderr.split())  # the table wraps long reasons
    assert "unconfigure net:nic0 refused" in text, show(r, lab)
    assert f"net/nic0 data scripts nic_guard: {REASON}" in text, show(r, lab)
    assert "use -f to override" in text, show(r, lab)
    assert "nic0" in lab.links_in("host"), show(r, lab)  # nothing happened
    assert {V4_10, V6_10} <= set(lab.addresses("nic0")), show(r, lab)

    r = lab.cfgadm("-f", "-c", "unconfigure", "net:nic0")
    assert r.returncode == 0, show(r, lab)
    assert "nic0" in lab.links_in("holding"), show(r, lab)
    assert {V4_10, V6_10} <= set(lab.addresses("nic1")), show(r, lab)
    log = lab.rcmd_log()
    assert "rcm.handler.scripts.nic_guard: net/nic0 released by force (RCM_ENV_FORCE=TRUE)" in log
    assert "rcm.handler.scripts.nic_guard: net/nic0 detached" in log

    r = lab.cfgadm("-c", "configure", "net:nic0")
    assert r.returncode == 0, show(r, lab)
    assert "nic0" in lab.links_in("host"), show(r, lab)
    assert "rcm.handler.scripts.nic_guard: net/nic0 is back" in lab.rcmd_log(), show(r, lab)


def test_an_unsafe_script_stops_rcmd_naming_the_file(lab: None) -> None:
    from rcm_lab import Lab, RcmdError

    with Lab(rcm_settings={"plugins": {"scripts": {"dirs": []}}}) as made:
        scripts = made.config_dir / "scripts"
        scripts.mkdir(mode=0o755)
        shutil.copy(SCRIPT, scripts / "nic_guard")
        (scripts / "nic_guard").chmod(0o775)
        with pytest.raises(RcmdError) as caught:
            made.start_rcmd()
        fault = f"rcmd: {scripts / 'nic_guard'}: refused: writable by group or others (mode 775)"
        assert fault in caught.value.log, caught.value.log
