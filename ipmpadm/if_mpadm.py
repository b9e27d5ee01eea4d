"""``if_mpadm``: take an IPMP member out of service in place, and bring it back.

Solaris' if_mpadm(8)::

    if_mpadm -d ifname     offline: its data addresses move to the group's
                           other members; it stays plumbed and up, and keeps
                           its test addresses (probing goes on)
    if_mpadm -r ifname     undo: back in service; its addresses fail back
                           (if the group fails back)

Through rcmd's offline/online of the resource ``net/<ifname>``: every
handler is asked first, so the same vetoes apply as to a detach (the last
working member of a group refuses, "minimum redundancy required"), each
step is journaled, and a failure rolls back.  rcmd keeps the member offline
across its restarts.  Root only.

Exit status: 0 done, 1 refused or failed, 2 a usage error.
"""

from __future__ import annotations

import getopt
import os
import sys

PROG = "if_mpadm"
USAGE = "Usage : if_mpadm [-d | -r] <interface_name>"
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def parse(argv: list[str]) -> tuple[str, str]:
    """``("offline" | "online", ifname)`` or ValueError (a usage error)."""
    try:
        opts, rest = getopt.getopt(argv, "d:r:")
    except getopt.GetoptError as e:
        raise ValueError(str(e)) from None
    if len(opts) != 1 or rest:
        raise ValueError("give exactly one of -d or -r, with one interface")
    flag, ifname = opts[0]
    return ("offline" if flag == "-d" else "online"), ifname


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        action, ifname = parse(argv)
    except ValueError as e:
        print(f"{PROG}: {e}\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    verb = "offline" if action == "offline" else "undo offline"
    if os.geteuid() != 0:
        print(f"{PROG}: cannot {verb} {ifname}: permission denied", file=sys.stderr)
        return EXIT_ERROR
    from ipmpadm.connect import NoDaemon, service
    from rcm.errors import RcmError
    from rcm.model import Outcome

    try:
        result = service(PROG).set_resource_state(action, f"net/{ifname}")
    except NoDaemon as e:
        print(f"{PROG}: cannot {verb} {ifname}: {str(e).partition(': ')[2]}", file=sys.stderr)
        return EXIT_ERROR
    except RcmError as e:
        print(f"{PROG}: cannot {verb} {ifname}: {e}", file=sys.stderr)
        return EXIT_ERROR
    for line in result.messages:
        print(line)
    if result.outcome is Outcome.DONE:
        return EXIT_OK
    reasons = [v.reason for v in result.vetoes] or [result.message or result.outcome.value]
    print(f"{PROG}: cannot {verb} {ifname}: {reasons[0]}", file=sys.stderr)
    for more in reasons[1:]:
        print(f"{PROG}: also: {more}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
