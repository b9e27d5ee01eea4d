"""``ipmpstat``: what every IPMP group, member, data address and probe is doing.

Solaris 11's ipmpstat(8) options and output::

    ipmpstat [-n] [-o field[,...] [-P]] -a|-g|-i|-p|-t

Answers from rcmd (a ``report`` request, open to every user), so any user
may run it; when rcmd is not running it says so in one line and exits 1
(Solaris' ipmpstat likewise fails when in.mpathd does not answer).  Parsed
with getopt, not click: it imports nothing but rcm's client, for a start-up
no slower than ``cfgadm -l``.

Exit status: 0 done, 1 an error (rcmd not reachable, …), 2 a usage error.
"""

from __future__ import annotations

import getopt
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ipmpadm import fields

PROG = "ipmpstat"
USAGE = "usage: ipmpstat [-n] [-o field[,...] [-P]] -a|-g|-i|-p|-t"
PROBE_POLL = 0.2  # seconds between two looks at the probe counters in -p
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class Usage(Exception):
    """A usage error: the message, then the synopsis, exit 2."""


def parse(argv: list[str]) -> tuple[str, bool, str | None, bool]:
    """``(mode, numeric, fields, parsable)`` or Usage."""
    try:
        opts, rest = getopt.getopt(argv, "agipto:nP")
    except getopt.GetoptError as e:
        raise Usage(str(e)) from None
    if rest:
        raise Usage(f"unexpected argument: {rest[0]}")
    modes = [o[1] for o, _ in opts if o in ("-a", "-g", "-i", "-p", "-t")]
    if len(set(modes)) > 1:
        raise Usage("at most one of -a, -g, -i, -p, -t may be given")
    if not modes:
        raise Usage("one of -a, -g, -i, -p, -t must be given")
    names = [v for o, v in opts if o == "-o"]
    wanted = names[-1] if names else None
    is_parsable = any(o == "-P" for o, _ in opts)
    if is_parsable and wanted is None:
        raise Usage("output field list (-o) required in parsable output mode (-P)")
    if is_parsable and any(n.strip().lower() == "all" for n in wanted.split(",")):  # type: ignore[union-attr]
        raise Usage('"-o all" is invalid in parsable output mode (-P)')
    return modes[0], any(o == "-n" for o, _ in opts), wanted, is_parsable


def host_names(numeric: bool) -> Callable[[str], str]:
    """Shows an address by the first name /etc/hosts gives it (never DNS:
    ipmpstat must not hang on a resolver), or as it is with -n."""
    if numeric:
        return lambda address: address
    table: dict[str, str] = {}
    try:
        with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
            for line in f:
                words = line.partition("#")[0].split()
                if len(words) >= 2:
                    table.setdefault(words[0].lower(), words[1])
    except OSError:
        pass
    return lambda address: table.get(address.lower(), address)


def ask(service: Any, topic: str) -> Mapping[str, Any]:
    """The IPMP handler's answer to ``topic``; RcmError when it has none."""
    from rcm.errors import RcmError

    answer = service.report(topic).get("ipmp")
    if answer is None:
        raise RcmError("rcmd has no IPMP handler (rcm_ipmp is not installed)")
    if "error" in answer and len(answer) == 1:
        raise RcmError(str(answer["error"]))
    return answer


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        mode, numeric, wanted, is_parsable = parse(argv)
        chosen = fields.select(mode, wanted)
    except (Usage, fields.FieldError) as e:
        print(f"{PROG}: {e}\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    from ipmpadm.connect import NoDaemon, service
    from rcm.errors import RcmError

    names = host_names(numeric)
    try:
        if mode == "p":
            return probe_stream(
                lambda: ask(service(PROG), "ipmp.probes"), chosen, names, is_parsable
            )
        report = ask(service(PROG), "ipmp")
    except NoDaemon as e:
        print(e, file=sys.stderr)
        return EXIT_ERROR
    except RcmError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return EXIT_ERROR
    rows = fields.rows_for(mode, report)
    lines = (
        fields.parsable(chosen, rows, names) if is_parsable else fields.table(chosen, rows, names)
    )
    sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def probe_rows(
    before: Mapping[str, Mapping[str, Any]], now: Mapping[str, Mapping[str, Any]], elapsed: float
) -> list[dict[str, str | None]]:
    """One row per probe sent since ``before``, from probing's counters: an
    answered probe shows its round-trip time (the newest of ``rtt_ms``), a
    lost one ``--``.  NETRTT and RTT are the same here (no separate kernel
    time is measured)."""
    rows: list[dict[str, str | None]] = []
    for name in sorted(now):
        cur, old = now[name], before.get(name, {})
        sent = int(cur.get("sent", 0))
        new = sent - int(old.get("sent", sent))
        if new <= 0:
            continue
        answered = int(cur.get("answered", 0)) - int(old.get("answered", 0))
        rtts = [float(x) for x in cur.get("rtt_ms", [])]
        avg = f"{sum(rtts) / len(rtts):.2f}ms" if rtts else None
        fresh = rtts[-answered:] if answered > 0 else []
        targets = [str(t) for t in cur.get("targets", [])]
        for i in range(new):
            k = i - (new - len(fresh))
            rtt = f"{fresh[k]:.2f}ms" if k >= 0 else None
            rows.append(
                {
                    "time": f"{elapsed:.2f}s",
                    "interface": name,
                    "probe": str(sent - new + i + 1),
                    "rtt": rtt,
                    "rttavg": avg,
                    "target": targets[0] if targets else None,
                }
            )
    return rows


def probe_stream(
    fetch: Callable[[], Mapping[str, Any]],
    chosen: list[fields.FieldSpec],
    names: Callable[[str], str],
    is_parsable: bool,
) -> int:
    """``-p``: a line per probe as probing sends them, until interrupted
    (Ctrl-C or SIGTERM ends it with status 0)."""
    stop = []

    def on_signal(_s: int, _f: object) -> None:
        stop.append(True)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    start = time.monotonic()
    before = dict(fetch().get("probes", {}))
    if not is_parsable:
        print(fields.table(chosen, [], names)[0], flush=True)
    while not stop:
        time.sleep(PROBE_POLL)
        if stop:
            break
        now = dict(fetch().get("probes", {}))
        rows = probe_rows(before, now, time.monotonic() - start)
        before = now
        if rows:
            lines = (
                fields.parsable(chosen, rows, names)
                if is_parsable
                else fields.table(chosen, rows, names, header=False)
            )
            print("\n".join(lines), flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
