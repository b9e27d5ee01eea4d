"""Text that cfgadm prints: the ap listing and the RCM resource table.

The listing's fixed Solaris columns are plain string formatting; the
variable tables (the veto and usage report) are tabulate's, imported only
when such a table is printed: importing it costs ~35 ms (most of it
importlib.metadata) that ``cfgadm -l`` must not pay.  Nothing from rcm is
imported at run time either; the objects are only read through attributes.

Listing options (``-s``) follow Solaris cfgadm(1M): ``noheadings``,
``cols=``, ``cols2=`` (the second line of a verbose listing), ``select=``,
``match=``, ``sort=``, ``delim=``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rcm.model import ApInfo, Listing, Usage, Veto


class ListingOptionError(Exception):
    """A bad ``-s`` argument.  ``status`` is the exit status: 3 for a usage
    error (unknown sub-option or field), 2 for a Solaris field or sub-option
    that this cfgadm knows of but does not implement."""

    def __init__(self, message: str, status: int = 3) -> None:
        super().__init__(message)
        self.status = status


# name -> (heading, minimum width).  Minimum widths reproduce the Solaris look
# (columns line up across runs when values are short); a longer value widens
# its column instead of being cut.
FIELDS: dict[str, tuple[str, int]] = {
    "ap_id": ("Ap_Id", 20),
    "class": ("Class", 8),
    "type": ("Type", 12),
    "r_state": ("Receptacle", 12),
    "o_state": ("Occupant", 12),
    "condition": ("Condition", 12),
    "busy": ("Busy", 4),
    "physid": ("Phys_Id", 0),
    "info": ("Information", 0),
}

# Solaris fields that have no meaning here yet: refuse them as "not
# supported" (exit 2) rather than as a typo (exit 3), so a script written for
# Solaris learns what is missing.
UNSUPPORTED_FIELDS = frozenset({"status", "time"})

DEFAULT_COLS = ["ap_id", "type", "r_state", "o_state", "condition"]
VERBOSE_COLS = [*DEFAULT_COLS, "busy", "physid", "info"]
MATCH_TYPES = ("exact", "partial", "regex")

# Compiled on first use (re caches it), not at import: most runs have no -s select=.
_SELECT_ITEM = r"([a-z_]+)\(([^()]*)\)"


class ListingOptions:
    """The parsed ``-s`` arguments.  (A plain class, not a dataclass: this
    module is imported on every run; see rcm.model on the cost.)"""

    def __init__(self) -> None:
        self.headings = True
        self.cols: list[str] | None = None
        self.cols2: list[str] | None = None
        self.select: list[tuple[str, str]] = []
        self.match = "exact"
        self.sort: list[str] = []
        self.delim: str | None = None

    def columns(self, verbose: bool) -> list[str]:
        """The columns to print: ``cols=`` wins, else ``-v`` adds Information."""
        if self.cols is not None:
            return self.cols
        return VERBOSE_COLS if verbose else DEFAULT_COLS


def _check_field(name: str, where: str) -> str:
    if name in FIELDS:
        return name
    if name in UNSUPPORTED_FIELDS:
        raise ListingOptionError(f"listing field not supported: {name}", status=2)
    raise ListingOptionError(f"invalid field in {where}: {name!r}")


def _parse_select(value: str) -> list[tuple[str, str]]:
    """``field(value)[:field(value)...]``; the value may itself contain ':'
    (ap_ids do), so the string is scanned, not split."""
    items: list[tuple[str, str]] = []
    pos = 0
    while pos < len(value):
        m = re.compile(_SELECT_ITEM).match(value, pos)
        if not m:
            raise ListingOptionError(
                f"invalid select expression: {value!r} (expected field(value)[:field(value)...])"
            )
        items.append((_check_field(m.group(1), "select"), m.group(2)))
        pos = m.end()
        if pos < len(value):
            if value[pos] != ":":
                raise ListingOptionError(f"invalid select expression: {value!r}")
            pos += 1
    if not items:
        raise ListingOptionError("select= needs at least one field(value)")
    return items


def parse_listing_options(values: Iterable[str]) -> ListingOptions:
    """Parse every ``-s`` argument (each a comma-separated list of
    sub-options, as getsubopt(3C) reads them) into one :class:`ListingOptions`."""
    opts = ListingOptions()
    for value in values:
        for sub in value.split(","):
            if not sub:
                continue
            key, eq, arg = sub.partition("=")
            if key == "noheadings" and not eq:
                opts.headings = False
            elif key == "cols" and eq:
                names = [n for n in arg.split(":") if n]
                if not names:
                    raise ListingOptionError("cols= needs at least one field")
                opts.cols = [_check_field(n, "cols") for n in names]
            elif key == "cols2" and eq:
                names = [n for n in arg.split(":") if n]
                if not names:
                    raise ListingOptionError("cols2= needs at least one field")
                opts.cols2 = [_check_field(n, "cols2") for n in names]
            elif key == "select" and eq:
                opts.select.extend(_parse_select(arg))
            elif key == "match" and eq:
                if arg not in MATCH_TYPES:
                    raise ListingOptionError(
                        f"invalid match type: {arg!r} (one of {', '.join(MATCH_TYPES)})"
                    )
                opts.match = arg
            elif key == "sort" and eq:
                names = [n for n in arg.split(":") if n]
                if not names:
                    raise ListingOptionError("sort= needs at least one field")
                opts.sort = [
                    ("-" if n.startswith("-") else "") + _check_field(n.lstrip("-"), "sort")
                    for n in names
                ]
            elif key == "delim" and eq:
                if not arg:
                    raise ListingOptionError("delim= needs a delimiter")
                opts.delim = arg
            else:
                raise ListingOptionError(f"invalid listing option: {sub!r}")
    if opts.match == "regex":
        for name, pattern in opts.select:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ListingOptionError(f"invalid regular expression in select {name}: {e}") from e
    return opts


def field_value(ap: ApInfo, name: str) -> str:
    """The text of one field of an ap, as it is printed and matched."""
    if name == "ap_id":
        return ap.ap_id
    if name == "class":
        return ap.ap_id.partition(":")[0] if ":" in ap.ap_id else ""
    if name == "type":
        return ap.type
    if name == "r_state":
        return ap.receptacle.value
    if name == "o_state":
        return ap.occupant.value
    if name == "condition":
        return ap.condition.value
    if name == "info":
        return ap.info
    if name == "busy":
        return "y" if getattr(ap, "busy", False) else "n"
    if name == "physid":
        return getattr(ap, "phys_id", "")
    raise KeyError(name)


def _matches(ap: ApInfo, opts: ListingOptions) -> bool:
    for name, want in opts.select:
        have = field_value(ap, name)
        if opts.match == "exact":
            ok = have == want
        elif opts.match == "partial":
            ok = want in have
        else:
            ok = re.fullmatch(want, have) is not None
        if not ok:
            return False
    return True


def select_aps(aps: Sequence[ApInfo], opts: ListingOptions) -> list[ApInfo]:
    """Apply ``select=``/``match=`` and ``sort=``; the service's order stays
    otherwise (it is the order the backends list their aps in)."""
    chosen = [ap for ap in aps if _matches(ap, opts)]
    # Stable sorts applied last key first give a multi-key sort where each
    # key may have its own direction.
    for key in reversed(opts.sort):
        name = key.lstrip("-")
        chosen.sort(key=lambda ap, n=name: field_value(ap, n), reverse=key.startswith("-"))
    return chosen


def render_columns(
    headers: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    min_widths: Sequence[int],
    sep: str = " ",
    rule: bool = False,
) -> list[str]:
    """Left-aligned columns, each as wide as its widest cell (at least its
    minimum), ``sep`` between them, the last column unpadded and no trailing
    blanks.  ``rule`` adds a line of dashes under the headings."""
    ncols = len(min_widths)
    widths = list(min_widths)
    for row in ([list(headers)] if headers else []) + [list(r) for r in rows]:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out: list[str] = []

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(widths[i]) if i < ncols - 1 else c for i, c in enumerate(cells)]
        return sep.join(padded).rstrip()

    if headers:
        out.append(line(headers))
        if rule:
            out.append(sep.join("-" * w for w in widths))
    out.extend(line(r) for r in rows)
    return out


def listing_rows(
    listing: Listing, aps: Sequence[ApInfo], cols: Sequence[str], verbose: bool
) -> list[list[str]]:
    """One row per ap; with ``-v`` and an Information column, one more row per
    usage line of the ap's resources, the other columns left blank (the way
    Solaris prints a multi-line Information field)."""
    rows: list[list[str]] = []
    for ap in aps:
        row = [field_value(ap, c) for c in cols]
        rows.append(row)
        if "info" not in cols:
            continue
        idx = cols.index("info")
        extra = _usage_lines(listing, ap.ap_id) if verbose else []
        if not row[idx] and extra:
            row[idx] = extra.pop(0)
        for text in extra:
            cont = [""] * len(cols)
            cont[idx] = text
            rows.append(cont)
    return rows


def _usage_lines(listing: Listing, ap_id: str) -> list[str]:
    """The Information rows below an ap with ``-v``: its usage lines; for an
    ap with dependents (``listing.tree``), the whole tree, each resource
    indented by its depth with its handlers' usage lines below it."""
    usage = listing.usage.get(ap_id, [])
    tree = getattr(listing, "tree", {}).get(ap_id)
    if not tree:
        return [u.info for u in usage]
    lines: list[str] = []
    for resource, depth in tree:
        lines.append("  " * depth + resource)
        lines.extend(
            "  " * (depth + 1) + f"{u.info} ({u.handler})" for u in usage if u.resource == resource
        )
    return lines


def format_listing(listing: Listing, opts: ListingOptions, verbose: bool) -> list[str]:
    """The lines ``cfgadm -l`` prints on stdout."""
    aps = select_aps(listing.aps, opts)
    if verbose and opts.cols2:
        return _two_line_listing(aps, opts)
    cols = opts.columns(verbose)
    rows = listing_rows(listing, aps, cols, verbose)
    headers = [FIELDS[c][0] for c in cols] if opts.headings else None
    if opts.delim is not None:
        lines = [opts.delim.join(headers)] if headers else []
        return lines + [opts.delim.join(r) for r in rows]
    return render_columns(headers, rows, [FIELDS[c][1] for c in cols])


def _two_line_listing(aps: Sequence[ApInfo], opts: ListingOptions) -> list[str]:
    """Solaris' verbose layout with ``cols2=``: each ap on two lines, the
    ``cols`` fields then the ``cols2`` fields, each set in columns of its own
    (two heading lines).  Usage lines are not added: ``cols2`` says what the
    second line holds."""
    cols = opts.cols or VERBOSE_COLS
    cols2 = opts.cols2 or []
    rows1 = [[field_value(ap, c) for c in cols] for ap in aps]
    rows2 = [[field_value(ap, c) for c in cols2] for ap in aps]
    heads1 = [FIELDS[c][0] for c in cols] if opts.headings else None
    heads2 = [FIELDS[c][0] for c in cols2] if opts.headings else None
    if opts.delim is not None:
        first = [opts.delim.join(r) for r in ([heads1] if heads1 else []) + rows1]
        second = [opts.delim.join(r) for r in ([heads2] if heads2 else []) + rows2]
    else:
        first = render_columns(heads1, rows1, [FIELDS[c][1] for c in cols])
        second = render_columns(heads2, rows2, [FIELDS[c][1] for c in cols2])
    return [line for pair in zip(first, second, strict=True) for line in pair]


RESOURCE_HEADERS = ("Resource", "Impact", "Handler", "Information")
TABLE_WIDTH = 80
"""The veto table fits an 80-column terminal: the Information column wraps."""
_NARROWEST_INFO = 24
_WIDEST_RESOURCE = 26
_WIDEST_HANDLER = 14
_PADDING = 2  # tabulate's: heading width + 2, and two blanks between columns


def _column_width(header: str, cells: Iterable[str], cap: int | None = None) -> int:
    widest = max((len(line) for c in cells for line in c.splitlines() or [""]), default=0)
    if cap is not None:
        widest = min(widest, cap)
    return max(widest, len(header) + _PADDING)


def format_resource_table(vetoes: Sequence[Veto], usage: Sequence[Usage] = ()) -> list[str]:
    """The RCM "Resource Information" table shown beside a veto.

    Vetoes come first (they are why the operation stopped); usage lines that
    do not repeat a veto follow with an empty Impact, so the admin sees every
    consumer of the resources in one place.  The Information column wraps so
    that the table fits :data:`TABLE_WIDTH` columns (a multi-line reason
    keeps its own line breaks); a very long resource or handler name wraps
    too rather than push the table wider.
    """
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for v in vetoes:
        seen.add((v.resource, v.reason))
        rows.append([v.resource, v.impact.value, v.handler, v.reason])
    for u in usage:
        if (u.resource, u.info) not in seen:
            rows.append([u.resource, "", u.handler, u.info])
    if not rows:
        return []
    from tabulate import tabulate  # only here: see the module docstring

    widths = [
        _column_width(RESOURCE_HEADERS[0], (r[0] for r in rows), _WIDEST_RESOURCE),
        _column_width(RESOURCE_HEADERS[1], (r[1] for r in rows)),
        _column_width(RESOURCE_HEADERS[2], (r[2] for r in rows), _WIDEST_HANDLER),
    ]
    info = max(_NARROWEST_INFO, TABLE_WIDTH - sum(widths) - _PADDING * len(widths))
    text = tabulate(
        rows,
        headers=RESOURCE_HEADERS,
        tablefmt="simple",
        disable_numparse=True,
        maxcolwidths=[_WIDEST_RESOURCE, None, _WIDEST_HANDLER, info],
    )
    return [line.rstrip() for line in text.splitlines()]
