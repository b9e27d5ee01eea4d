"""Fuzzing cfgadm: generated argument vectors and generated ap_ids, run in this process through
``cfgadm.cli.main`` (the console script's entry point) against a real rcmd in the lab.

Whatever the arguments: the exit status is one of cfgadm's documented ones (0 ok, 1 failed,
2 not supported, 3 usage error, with the synopsis), no traceback is printed, every error line
reads ``cfgadm: ...``, nothing changes (the lab's kernel state and rcmd's journal are as they
were: no generated vector names a real ap in a change), and rcmd answers root afterwards with
no traceback in its log.

So that a fault here can never reach the machine's own NICs, cfgadm's seam to rcm is held to
rcmd's socket: if rcmd stopped answering, cfgadm would run the engine in this process (in the
root namespace), and the test fails instead.

Examples: ``RCM_FUZZ_EXAMPLES`` (see tests/fuzzkit.py).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fuzzkit import FUZZ, REAL_APS, Rig, list_answer, progress, rcmd_rig, unchanged
from hypothesis import event, given
from hypothesis import strategies as st

import cfgadm.cli as cli

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def rcmd_lab() -> Iterator[Rig]:
    with rcmd_rig() as rig:
        yield rig


def remote_only(need_write: bool) -> Any:
    """cfgadm's seam, held to rcmd's socket (never the engine in this process)."""
    from rcm.client import RemoteService, open_service

    service = open_service(need_write)
    if not isinstance(service, RemoteService):
        service.close()
        raise AssertionError("rcmd did not answer: cfgadm would have run the engine in-process")
    return service


def looks_real(token: str) -> bool:
    t = token.strip().lower()
    return any(t == ap or t == ap.split(":")[1] or t.endswith(ap) for ap in REAL_APS)


def run_cfgadm(lab: Any, argv: list[str], monkeypatch: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.get("RCM_RUNTIME_DIR")
    seam = cli.open_service
    os.environ["RCM_RUNTIME_DIR"] = str(lab.runtime_dir)
    cli.open_service = remote_only
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv)
    finally:
        cli.open_service = seam
        if saved is None:
            os.environ.pop("RCM_RUNTIME_DIR", None)
        else:
            os.environ["RCM_RUNTIME_DIR"] = saved
    return status, out.getvalue(), err.getvalue()


def check_after(rig: Rig, argv: list[str], result: tuple[int, str, str]) -> None:
    lab, log, kernel, before = rig
    progress()
    status, stdout, stderr = result
    shown = f"argv {argv!r}\nexit {status}\n--- stdout\n{stdout}--- stderr\n{stderr}"
    assert status in (0, 1, 2, 3), shown
    event(f"exit {status}")
    assert "Traceback" not in stdout + stderr, shown
    if stderr:
        assert stderr.startswith("cfgadm: "), shown
    if status == 3:
        assert "Usage: cfgadm" in stderr, shown
    assert unchanged(lab, kernel, before), shown
    assert "aps" in list_answer(lab), shown
    text = log.new()
    assert "Traceback" not in text, text[-3000:]


OPTIONS = st.sampled_from(
    [
        "-l", "-a", "-v", "-lv", "-alv", "-c", "-x", "-t", "-f", "-y", "-n", "-h", "-s", "-o",
        "--help", "--", "-", "-fnc", "-fyc", "-cconfigure", "-cunconfigure", "-sselect=x", "-q",
        "--bogus", "-l-", "-ooo", "-vvvv",
    ]
)  # fmt: skip
WORDS = st.sampled_from(
    [
        "configure", "unconfigure", "connect", "disconnect", "explode", "",
        "noheadings", "cols=ap_id:condition", "cols=bogus", "select=ap_id(net:nic9)",
        "sort=ap_id", "match=regex", "net:nic9", "net:", "slot:0", ":", "net:nic0x",
    ]
)  # fmt: skip
TEXT = st.text(max_size=40).filter(lambda t: not looks_real(t))
ARGV = st.lists(OPTIONS | WORDS | TEXT, max_size=8)


@FUZZ
@given(argv=ARGV)
def test_any_argument_vector_gets_a_documented_exit_and_changes_nothing(
    rcmd_lab: Rig, argv: list[str]
) -> None:
    check_after(rcmd_lab, argv, run_cfgadm(rcmd_lab[0], argv))


AP_ID = (
    st.text(max_size=60)
    | st.text(alphabet=st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), max_size=8)
    | st.sampled_from(
        ["net:nic9", "net:", "NET:NIC0", "net:nic0/", "net:*", "net:nic?", "x" * 3000]
    )
    | st.builds(
        lambda p, t: p + t, st.sampled_from(["net:", "slot:", "pci:"]), st.text(max_size=20)
    )
).filter(lambda t: not looks_real(t))
AP_IDS = st.lists(AP_ID, min_size=1, max_size=8) | st.lists(
    st.just("y" * 1000), min_size=70, max_size=70
)  # the last: an argument list over 64 KiB


@FUZZ
@given(
    mode=st.sampled_from(["-l", "-lv", "-c configure", "-c unconfigure", "-f -y -c unconfigure"]),
    ap_ids=AP_IDS,
    real=st.lists(st.sampled_from(REAL_APS), max_size=2),
)
def test_any_ap_id_is_listed_or_refused_cleanly(
    rcmd_lab: Rig, mode: str, ap_ids: list[str], real: list[str]
) -> None:
    """``--`` ends the options, so every generated ap_id reaches rcmd as an ap_id.  Real aps are
    mixed in only when listing."""
    lab = rcmd_lab[0]
    listing = mode.startswith("-l")
    argv = [*mode.split(), "--", *(real if listing else []), *ap_ids]
    result = run_cfgadm(lab, argv)
    check_after(rcmd_lab, argv, result)
    status = result[0]
    if listing:
        assert status == 1, result  # at least one generated ap_id does not exist
    else:
        assert status in (1, 2), result  # refused: no such ap (or not supported)
