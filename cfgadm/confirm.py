"""The ap class's question before a state change (Solaris' ``(yes/no)?``).

Some classes ask before they act (a SCSI class before it suspends a bus, as
Solaris' cfgadm_scsi does): the engine answers such a request
``unconfirmed`` with the class's question, and cfgadm asks the admin on
stderr, or answers for them: ``-y`` yes, ``-n`` no, and no when stdin or
stderr is not a terminal (Solaris: "-n is assumed").  Only a ``yes`` (or
``y``) sends the request again, confirmed.
"""

from __future__ import annotations

import sys

PROG = "cfgadm"


def confirmed(question: str, ap_id: str, *, yes: bool, no: bool, interactive: bool) -> bool:
    """Whether the admin agrees to the class's ``question`` for ``ap_id``.

    With ``-y`` nothing is asked.  With ``-n``, or when nobody can answer
    (``interactive`` false), the question and the refusal are printed on
    stderr.  Otherwise the question is asked on stderr and one line of stdin
    is the answer.
    """
    if yes:
        return True
    if no or not interactive:
        why = "-n" if no else "-n assumed: not a terminal"
        print(f"{PROG}: {question}", file=sys.stderr)
        print(f"{PROG}: not confirmed ({why}): {ap_id} left unchanged", file=sys.stderr)
        return False
    sys.stderr.write(f"{question}\nContinue (yes/no)? ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("yes", "y"):
        return True
    print(f"{PROG}: not confirmed: {ap_id} left unchanged", file=sys.stderr)
    return False
