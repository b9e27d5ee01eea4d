"""``cfgadm --dry-run``: the query phase alone, printed as a plan.

Nothing changes: the engine asks every handler of every resource (and of the
dependents they name) whether the resource may go, and each says what it
would do (``ctx.plan``); the ap class says what its hardware step would do.
This module turns that answer (a query's :class:`rcm.model.Result`) into
lines: the tree of resources with each handler's usage line and answer,
the vetoes in the resource table, and the verdict, including whether
``-f`` would get past the vetoes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cfgadm.output import format_resource_table

if TYPE_CHECKING:
    from rcm.model import Result


def _children(result: Result) -> dict[str | None, list[str]]:
    kids: dict[str | None, list[str]] = {}
    for node in result.tree:
        kids.setdefault(node.get("parent"), []).append(node["resource"])
    return kids


def plan_lines(result: Result, function: str, ap_id: str, verbose: bool) -> list[str]:
    """What ``cfgadm --dry-run -c <function> <ap_id>`` prints on stdout."""
    from rcm.model import Impact, Outcome

    lines = [f"{function} {ap_id}: dry run, nothing is changed"]
    usage: dict[str, list[tuple[str, str]]] = {}
    for u in result.usage:
        usage.setdefault(u.resource, []).append((u.handler, u.info))
    answers: dict[str, list[dict]] = {}
    for a in result.answers:
        if a.get("phase") == "query":
            answers.setdefault(a["resource"], []).append(a)
    kids = _children(result)

    def walk(resource: str, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{resource}")
        for handler, info in usage.get(resource, []):
            lines.append(f"{pad}  {handler}: uses it: {info}")
        for a in answers.get(resource, []):
            veto = a.get("veto")
            said = f"vetoes ({veto['impact']})" if veto else "agrees"
            lines.append(f"{pad}  {a['handler']}: {said}")
            for text in a.get("plan", []):
                lines.append(f"{pad}    would: {text}")
        for child in kids.get(resource, []):
            walk(child, depth + 1)

    for root in kids.get(None, []):
        walk(root, 1)
    if verbose and result.hardware:
        lines.append(f"  hardware step: {result.hardware}")
    if result.vetoes:
        lines += format_resource_table(result.vetoes)
    if result.outcome is Outcome.DONE:
        passed = result.forced_past
        if passed:
            lines.append(f"verdict: would proceed: -f overrides {len(passed)} data veto(es)")
        else:
            lines.append("verdict: would proceed")
    elif result.outcome is Outcome.VETOED:
        if any(v.impact is Impact.SYSTEM for v in result.vetoes):
            lines.append("verdict: would be refused; -f would not override a system veto")
        else:
            lines.append("verdict: would be refused; -f would override the data vetoes")
    return lines
