"""Acceptance: a shell RCM script vetoes a real detach, against the real kernel.

The example script (examples/shell_script/nic_guard) is installed as its README says: copied
into the lab's ``$RCM_CONFIG_DIR/scripts`` (mode 0755, owned by root) with ``nic_guard.conf``
beside that folder.  rcmd runs in the lab's host namespace with its built-in handlers, the
scripts handler among them; ``cfgadm -c unconfigure net:nic0`` is refused with the script's
reason and nic0 stays; ``-f`` gets past it, the script's ``preremove`` sees
``RCM_ENV_FORCE=TRUE``, and nic0 leaves for the holding namespace with its data addresses
moved to nic1 by the IPMP handler; ``configure`` brings it back and the script hears
``undoremove``.  The commands and what they print are the transcript of
docs/plugins/scripts.md, read from the page.  The ``lab`` fixture skips without root and
fails under RCM_REQUIRE_LAB=1.
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
DOC = REPO / "docs" / "plugins" / "scripts.md"
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


def documented(marker: str) -> list[str]:
    """The lines of the fenced block that follows ``marker`` in docs/plugins/scripts.md."""
    lines = DOC.read_text().splitlines()
    start = lines.index(marker) + 1
    assert lines[start] == "```", f"no block after {marker}"
    end = lines.index("```", start + 1)
    return lines[start + 1 : end]


def transcript() -> list[tuple[list[str], str]]:
    """(cfgadm's arguments, what it prints) for each command of the documented transcript."""
    steps: list[tuple[list[str], list[str]]] = []
    for line in documented("<!-- transcript: checked by tests/test_lab_scripts.py -->"):
        if line.startswith("# cfgadm"):
            steps.append((line.split()[2:], []))
        else:
            steps[-1][1].append(line)
    return [(args, "".join(out + "\n" for out in printed)) for args, printed in steps]


def test_a_shell_script_vetoes_a_real_detach_and_force_gets_past_it(guarded: Any) -> None:
    """The documented transcript, run: each command prints what the page shows, and the
    lab is in the state the page says after each."""
    lab = guarded
    steps = transcript()
    assert [args for args, _ in steps] == [
        ["-lv", "net:nic0"],
        ["-c", "unconfigure", "net:nic0"],
        ["-f", "-c", "unconfigure", "net:nic0"],
        ["-c", "configure", "net:nic0"],
    ]
    results = []
    for args, printed in steps:
        r = lab.cfgadm(*args)
        assert r.stdout + r.stderr == printed, show(r, lab)
        results.append(r)
        if args == ["-c", "unconfigure", "net:nic0"]:  # refused: nothing happened
            assert r.returncode == 1, show(r, lab)
            assert "nic0" in lab.links_in("host"), show(r, lab)
            assert {V4_10, V6_10} <= set(lab.addresses("nic0")), show(r, lab)
        elif args[0] == "-f":  # forced: gone, its addresses on nic1
            assert r.returncode == 0, show(r, lab)
            assert "nic0" in lab.links_in("holding"), show(r, lab)
            assert {V4_10, V6_10} <= set(lab.addresses("nic1")), show(r, lab)
        else:
            assert r.returncode == 0, show(r, lab)
    assert "nic0" in lab.links_in("host"), show(results[-1], lab)
    # The script's own log lines, in order: preremove saw RCM_ENV_FORCE=TRUE.
    said = [line for line in lab.rcmd_log().splitlines() if "rcm.handler.scripts." in line]
    assert said == documented("<!-- log: checked by tests/test_lab_scripts.py -->"), said


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
