"""The ``cfgadm`` command: list attachment points and change their state.

Solaris cfgadm(1M) syntax, getopt style (``-lv``, ``-fnc unconfigure``,
``-cconfigure``, ``-s noheadings,cols=ap_id:condition``), parsed by click.

Start-up cost matters (an admin runs ``cfgadm -l`` by hand and scripts run it
in loops), so this module imports only click at start: rcm, the client, and
everything behind it (pluggy, pyroute2 …) are imported inside the command,
after the arguments are known to be good.  ``--help``, ``-h`` and usage
errors never import them.

Exit status (cfgadm(1M)): 0 ok, 1 failed / vetoed / denied, 2 not supported,
3 usage error.  A user's mistake never prints a traceback: usage errors print
``cfgadm: <what is wrong>`` and the synopsis, and every
:class:`rcm.errors.RcmError` prints ``cfgadm: <message>``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from cfgadm.output import (
    ListingOptionError,
    ListingOptions,
    format_listing,
    format_resource_table,
    parse_listing_options,
)

if TYPE_CHECKING:
    from rcm.model import Action, Result, Veto
    from rcm.service import Service

PROG = "cfgadm"

SYNOPSIS = """\
Usage: cfgadm [-f] [-y|-n] [-v] [--dry-run] [--json] [-o hardware_options] -c function ap_id...
       cfgadm [-f] [-y|-n] [-v] [-o hardware_options] -x hardware_function ap_id...
       cfgadm [-v] [-a] [-s listing_options] [--json] [-o hardware_options] [-l] [ap_id|ap_type...]
       cfgadm [-v] [--json] [-o hardware_options] -t ap_id...
       cfgadm -h [ap_type...]
"""

FUNCTIONS = ("configure", "unconfigure", "connect", "disconnect")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_SUPPORTED = 2
EXIT_USAGE = 3

CONFIRM_PROMPT = "This operation will override the vetoes above. Continue (yes/no)? "


class CfgadmExit(Exception):
    """Stop with ``status`` after printing ``cfgadm: <line>`` for each line on
    stderr.  Raised from deep inside the command so that every early exit
    takes the same path out."""

    def __init__(self, status: int, *lines: str) -> None:
        super().__init__(*lines)
        self.status = status
        self.lines = lines


def open_service(need_write: bool) -> Service:
    """The seam between the command and rcm: a client of rcmd, or the engine
    in-process when no rcmd runs.

    Imported here, not at the top, so that ``--help`` and usage errors never
    pay for rcm's imports; tests replace this function with a fake service.
    """
    from rcm.client import open_service as _open_service

    return _open_service(need_write, before_local=_route_engine_log)


def _route_engine_log() -> None:
    """In-process, the engine's log goes where rcmd's would, not to our
    stderr (imported only then: a client of rcmd logs nothing)."""
    from cfgadm.enginelog import route_engine_log

    route_engine_log()


def _stdin_is_tty() -> bool:
    """Whether a person can answer the confirmation question (a seam for tests)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


def _terminal() -> bool:
    """Whether a person can answer an ap class's question: stdin and stderr
    are both terminals (Solaris cfgadm(8); a seam for tests)."""
    try:
        return _stdin_is_tty() and sys.stderr is not None and sys.stderr.isatty()
    except ValueError:
        return False


def _out(line: str = "") -> None:
    print(line, file=sys.stdout)


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def _complete_function(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from cfgadm.complete import complete_function  # only when completing: start-up cost

    return complete_function(ctx, param, incomplete)


def _complete_ap_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from cfgadm.complete import complete_ap_id

    return complete_ap_id(ctx, param, incomplete)


class _CfgadmCommand(click.Command):
    """A click command whose usage line is the Solaris synopsis."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(SYNOPSIS)


@click.command(
    cls=_CfgadmCommand,
    context_settings={"help_option_names": ["--help"]},
    add_help_option=True,
)
@click.option("-l", "list_", is_flag=True, help="List attachment points (the default).")
@click.option("-a", "all_", is_flag=True, help="Also list dynamic aps (base::dynamic).")
@click.option("-v", "verbose", count=True, help="Verbose: add the Information column.")
@click.option(
    "-s",
    "listing_options",
    multiple=True,
    metavar="listing_options",
    help="noheadings, cols=, select=, match=, sort=, delim= (comma-separated).",
)
@click.option(
    "-o",
    "hardware_options",
    multiple=True,
    metavar="hardware_options",
    help="The ap class's options, e.g. -o netns=<name> for net: aps.",
)
@click.option(
    "-c",
    "functions",
    multiple=True,
    metavar="function",
    shell_complete=_complete_function,
    help="configure, unconfigure, connect or disconnect each ap_id in turn.",
)
@click.option(
    "-x",
    "hardware_function",
    metavar="hardware_function",
    help="Hardware specific function of the ap's class (cfgadm -h ap_type lists them).",
)
@click.option("-t", "test", is_flag=True, help="Test the aps (the ap class's test function).")
@click.option("-f", "force", is_flag=True, help="Force: override data vetoes.")
@click.option("-y", "yes", is_flag=True, help="Answer yes to the confirmation question.")
@click.option("-n", "no", is_flag=True, help="Answer no to the confirmation question.")
@click.option(
    "-h", "usage", is_flag=True, help="Print the usage synopsis; with ap_types, their class help."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (rcm.cfgadm/1).")
@click.option(
    "--dry-run", "dry_run", is_flag=True, help="With -c: the query phase only, as a plan."
)
@click.argument("ap_ids", nargs=-1, metavar="[ap_id...]", shell_complete=_complete_ap_id)
def command(
    list_: bool,
    all_: bool,
    verbose: int,
    listing_options: tuple[str, ...],
    hardware_options: tuple[str, ...],
    functions: tuple[str, ...],
    hardware_function: str | None,
    test: bool,
    force: bool,
    yes: bool,
    no: bool,
    usage: bool,
    as_json: bool,
    dry_run: bool,
    ap_ids: tuple[str, ...],
) -> int:
    """List attachment points or change their state (Solaris cfgadm(1M)).

    With rcmd running, cfgadm is its client over $RCM_RUNTIME_DIR/rcmd.sock;
    otherwise it runs the same engine in-process under the same lock.
    """
    if usage:
        _out(SYNOPSIS.rstrip("\n"))
        return _class_help(list(ap_ids)) if ap_ids else EXIT_OK
    # Syntax first, all of it, before anything is contacted: a usage error
    # (exit 3) must win over "not supported" (2) and over any failure (1).
    if len(functions) > 1:  # Solaris: a usage error, not "the last one wins"
        raise click.UsageError("-c may be given only once")
    function = functions[0] if functions else None
    mode = _mode(list_, function, hardware_function, test)
    listing_flag = "-a" if all_ else "-s" if listing_options else None
    _check_flags(mode, force=force, yes=yes, no=no, listing_flag=listing_flag)
    _check_function(function)
    if dry_run and mode != "-c":
        raise click.UsageError("--dry-run is only valid with -c")
    if mode != "-l" and not ap_ids:
        raise click.UsageError(f"{mode} needs at least one ap_id")
    opts = _listing_options(listing_options) if mode == "-l" else ListingOptions()
    options = ",".join(o for o in hardware_options if o)
    _refuse_unsupported(options if mode in ("-l", "-x") else "", mode)
    if function is not None:
        how = ChangeRequest(force, yes, no, verbose > 0, dry_run, as_json, options)
        return _change(function, list(ap_ids), how)
    if test:
        return _test(list(ap_ids), options, as_json=as_json)
    if hardware_function is not None:
        return _hardware_function(hardware_function, list(ap_ids))
    return _list(list(ap_ids), opts, verbose=verbose > 0, as_json=as_json, dynamic=all_)


def _mode(list_: bool, function: str | None, hardware_function: str | None, test: bool) -> str:
    """The one mode flag given (``-l``, ``-c``, ``-x`` or ``-t``); listing
    when none is."""
    given = [
        flag
        for flag, on in (
            ("-l", list_),
            ("-c", function is not None),
            ("-x", hardware_function is not None),
            ("-t", test),
        )
        if on
    ]
    if len(given) > 1:
        raise click.UsageError(f"{given[0]} and {given[1]} are mutually exclusive")
    return given[0] if given else "-l"


def _check_flags(mode: str, *, force: bool, yes: bool, no: bool, listing_flag: str | None) -> None:
    """-y excludes -n; -f, -y and -n need a change (-c or -x); -a and -s
    (``listing_flag``, the first given) belong to listing."""
    if yes and no:
        raise click.UsageError("-y and -n are mutually exclusive")
    if mode not in ("-c", "-x"):
        for flag, given in (("-f", force), ("-y", yes), ("-n", no)):
            if given:
                raise click.UsageError(f"{flag} is only valid with -c or -x")
    if mode != "-l" and listing_flag:
        raise click.UsageError(f"{listing_flag} is only valid when listing")


def _check_function(function: str | None) -> None:
    if function is not None and function not in FUNCTIONS:
        raise click.UsageError(
            f"invalid function for -c: {function!r} (configure, unconfigure, connect, disconnect)"
        )


def _listing_options(values: tuple[str, ...]) -> ListingOptions:
    """Parse ``-s``: a bad one is a usage error (3), a Solaris one this
    cfgadm does not implement is "not supported" (2)."""
    try:
        return parse_listing_options(values)
    except ListingOptionError as e:
        if e.status == EXIT_USAGE:
            raise click.UsageError(str(e)) from None
        raise CfgadmExit(e.status, str(e)) from None


def _refuse_unsupported(options: str, mode: str) -> None:
    """Valid syntax that nothing here implements: exit 2.  (``-o`` with
    ``-c`` or ``-t`` goes to the ap class, which says whether it takes it.)"""
    if options:
        what = "listing" if mode == "-l" else "-x"
        raise CfgadmExit(
            EXIT_NOT_SUPPORTED,
            f"Hardware specific options not supported: {options} ({what} takes none)",
        )


@contextmanager
def _service(need_write: bool) -> Iterator[Service]:
    """Open the service and turn every product error into ``cfgadm: <message>``
    (exit 1): a missing socket, a held lock, a bad configuration file are the
    admin's to fix, not tracebacks."""
    from rcm.errors import RcmError

    try:
        service = open_service(need_write)
    except RcmError as e:
        raise CfgadmExit(EXIT_FAILED, str(e)) from None
    except OSError as e:
        raise CfgadmExit(EXIT_FAILED, _os_error(e)) from None
    try:
        yield service
    except RcmError as e:
        raise CfgadmExit(EXIT_FAILED, str(e)) from None
    except OSError as e:
        raise CfgadmExit(EXIT_FAILED, _os_error(e)) from None
    finally:
        try:
            service.close()
        except Exception:  # closing must not hide the real outcome
            pass


def _os_error(e: OSError) -> str:
    if e.strerror and e.filename:
        return f"{e.filename}: {e.strerror}"
    return e.strerror or str(e)


def _list(
    ap_ids: list[str],
    opts: ListingOptions,
    verbose: bool,
    as_json: bool = False,
    dynamic: bool = False,
) -> int:
    """``cfgadm -l [-a] [ap_id|ap_type ...]``: print what exists, then
    complain about what does not.  When none of the names exists, only the
    complaint is printed: no heading over an empty table (Solaris)."""
    with _service(need_write=False) as service:
        if dynamic:
            listing = service.list_aps(ap_ids, verbose or as_json, dynamic=True)
        else:
            listing = service.list_aps(ap_ids, verbose or as_json)
    status = EXIT_FAILED if listing.missing else EXIT_OK
    if as_json:
        from cfgadm.jsonout import dumps, listing_document
        from cfgadm.output import select_aps

        _out(dumps(listing_document(listing, select_aps(listing.aps, opts), status)))
    elif listing.aps or not listing.missing:
        for line in format_listing(listing, opts, verbose):
            _out(line)
    for ap_id in listing.missing:
        _err(f"{PROG}: Attachment point not found: {ap_id}")
    return status


def _class_help(ap_types: list[str]) -> int:
    """``cfgadm -h ap_type ...``: after the synopsis, each class's own help."""
    with _service(need_write=False) as service:
        texts = service.class_help(ap_types)
    for text in texts.values():
        _out("")
        for line in text.splitlines():
            _out(line)
    return EXIT_OK


def _hardware_function(function: str, ap_ids: list[str]) -> int:
    """``cfgadm -x name[=value] ap_id...``: the class function, ap by ap,
    stopping at the first that does not succeed."""
    _need_root("run hardware specific functions")
    from rcm.model import Outcome

    with _service(need_write=True) as service:
        for ap_id in ap_ids:
            result = service.hardware_function(ap_id, function)
            for line in result.messages:
                _out(line)
            if result.outcome is Outcome.DONE:
                continue
            if result.outcome is Outcome.NO_SUCH_AP:
                _err(f"{PROG}: Attachment point not found: {result.ap_id or ap_id}")
            else:
                _err(f"{PROG}: {result.message or result.outcome.value}")
            return result.exit_status
    return EXIT_OK


class ChangeRequest:
    """How ``-c`` was asked: the flags that shape the whole run."""

    def __init__(
        self,
        force: bool,
        yes: bool,
        no: bool,
        verbose: bool,
        dry_run: bool = False,
        as_json: bool = False,
        options: str = "",
    ) -> None:
        self.force = force
        self.yes = yes
        self.no = no
        self.verbose = verbose
        self.dry_run = dry_run
        self.as_json = as_json
        self.options = options


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        # Checked before contacting anything; rcmd checks peer credentials too.
        raise CfgadmExit(EXIT_FAILED, f"permission denied: only root may {what}")


def _change(function: str, ap_ids: list[str], how: ChangeRequest) -> int:
    """``cfgadm -c function ap_id...``: each ap in turn, stopping at the first
    that does not succeed (its status is cfgadm's)."""
    _need_root("change state (configure/unconfigure)")
    from rcm.model import Action

    action = Action(function)
    force = how.force
    ask = force and not how.yes and not how.dry_run and (how.no or _stdin_is_tty())
    results: list[Result] = []
    status = EXIT_OK
    with _service(need_write=not how.dry_run) as service:
        for ap_id in ap_ids:
            if how.dry_run:
                result = _ask(service, action, ap_id, force, True, how.options)
                results.append(result)
                status = _report_dry_run(result, action, ap_id, how)
            else:
                shown: list[Veto] = []
                if ask:
                    stop, shown = _confirm_force(service, action, ap_id, how)
                    if stop is not None:
                        return stop
                result = _ask(service, action, ap_id, force, False, how.options)
                if result.outcome.value == "unconfirmed":  # the class asks first
                    from cfgadm.confirm import confirmed

                    if not confirmed(
                        result.message,
                        ap_id,
                        yes=how.yes,
                        no=how.no,
                        interactive=_terminal(),
                    ):
                        results.append(result)
                        status = EXIT_FAILED
                        break
                    result = _ask(service, action, ap_id, force, False, how.options, True)
                results.append(result)
                if how.as_json:
                    status = result.exit_status
                else:
                    status = report_result(result, action, ap_id, verbose=how.verbose, shown=shown)
            if status != EXIT_OK:
                break
    if how.as_json:
        from cfgadm.jsonout import change_document, dumps

        document = change_document(
            function,
            results,
            dry_run=how.dry_run,
            force=force,
            options=how.options,
            status=status,
        )
        _out(dumps(document))
    return status


def _ask(
    service: Service,
    action: Action,
    ap_id: str,
    force: bool,
    query_only: bool,
    options: str,
    confirmed: bool = False,
) -> Result:
    """One change_state request; ``options`` and ``confirmed`` only when
    given (so a Service that predates them still serves the rest)."""
    extra: dict[str, Any] = {}
    if options:
        extra["options"] = options
    if confirmed:
        extra["confirmed"] = True
    return service.change_state(action, ap_id, force, query_only=query_only, **extra)


def _report_dry_run(result: Result, action: Action, ap_id: str, how: ChangeRequest) -> int:
    """A query's answer as a plan (text), and the status the change would
    have: 0 if it would go ahead, else the refusal's."""
    from rcm.model import Outcome

    if result.outcome not in (Outcome.DONE, Outcome.VETOED):
        if not how.as_json:
            return report_result(result, action, ap_id, verbose=how.verbose)
        return result.exit_status
    if not how.as_json:
        from cfgadm.plan import plan_lines

        for line in plan_lines(result, action.value, result.ap_id or ap_id, how.verbose):
            _out(line)
    return result.exit_status


def _test(ap_ids: list[str], options: str, as_json: bool) -> int:
    """``cfgadm -t ap_id...``: each ap's class test function, in turn."""
    _need_root("test attachment points")
    results: list[Result] = []
    status = EXIT_OK
    with _service(need_write=False) as service:
        for ap_id in ap_ids:
            result = service.test_ap(ap_id, options)
            results.append(result)
            status = result.exit_status
            if not as_json:
                _report_test(result, ap_id)
            if status != EXIT_OK:
                break
    if as_json:
        from cfgadm.jsonout import dumps, test_document

        _out(dumps(test_document(results, status)))
    return status


def _report_test(result: Result, ap_id: str) -> None:
    from rcm.model import Outcome

    for line in result.messages:
        _out(line)
    if result.outcome is Outcome.NO_SUCH_AP:
        _err(f"{PROG}: Attachment point not found: {ap_id}")
    elif result.outcome is not Outcome.DONE:
        _err(f"{PROG}: {result.message or result.outcome.value}")


def _confirm_force(
    service: Service, action: Action, ap_id: str, how: ChangeRequest
) -> tuple[int | None, list[Veto]]:
    """Before a forced change, show what ``-f`` would override and ask.

    Returns (None, the vetoes shown) to go ahead, else (the exit status to
    stop with, ...).  The engine runs the query phase alone, forced, and its
    Result says what ``-f`` would override (``forced_past``) or what it cannot
    (a ``system`` veto: the query is vetoed).  Asked only of a person at a
    terminal, or answered by ``-n``; a script that said ``-f`` is not asked.
    """
    from rcm.model import Outcome

    no = how.no
    query = _ask(service, action, ap_id, True, True, how.options)
    if query.outcome is not Outcome.DONE:
        return report_result(query, action, ap_id, verbose=False), []
    if not query.forced_past:
        return None, []
    for line in query.messages:
        _out(line)
    _err(f"{PROG}: {action.value} {ap_id} is vetoed; -f would override:")
    for line in format_resource_table(query.vetoes, query.usage):
        _err(line)
    if no:
        _err(f"{PROG}: not confirmed (-n): {ap_id} left unchanged")
        return EXIT_FAILED, query.vetoes
    sys.stderr.write(CONFIRM_PROMPT)
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("yes", "y"):
        return None, query.vetoes
    _err(f"{PROG}: not confirmed: {ap_id} left unchanged")
    return EXIT_FAILED, query.vetoes


def report_result(
    result: Result, action: Action, ap_id: str, *, verbose: bool, shown: Sequence[Veto] = ()
) -> int:
    """Print one state change's outcome the way cfgadm(1M) does and return
    the exit status the engine gave it.

    The engine's messages (addresses moved, …) come first, on stdout,
    whatever the outcome: they say what did happen.  Vetoes go to stderr in
    the resource table: the blocking ones with the refusal, the ones ``-f``
    overrode and the warnings after a change that went ahead, except those
    the confirmation question (``shown``) already printed.
    """
    from rcm.model import Outcome

    for line in result.messages:
        _out(line)
    outcome = result.outcome
    target = result.ap_id or ap_id
    if outcome is Outcome.DONE:
        if verbose and result.message:
            _out(result.message)
        _report_passed_vetoes(result, action, target, shown)
    elif outcome is Outcome.VETOED:
        _err(
            f"{PROG}: Component system is busy, try again: "
            f"{result.message or action.value + ' ' + target + ' refused'}"
        )
        for line in format_resource_table(result.vetoes, result.usage):
            _err(line)
        if result.overridable:
            _err("use -f to override")
    elif outcome is Outcome.FAILED:
        _err(f"{PROG}: {result.message or action.value + ' failed: ' + target}")
        if result.rolled_back:
            _err(f"{PROG}: the previous configuration was restored")
    elif outcome is Outcome.NO_SUCH_AP:
        _err(f"{PROG}: Attachment point not found: {target}")
    elif outcome is Outcome.NOT_SUPPORTED:
        _err(f"{PROG}: {result.message or f'{action.value} not supported: {target}'}")
    else:  # busy, denied: the message says it all ("Resource is busy …")
        _err(f"{PROG}: {result.message or outcome.value}")
    return result.exit_status


def _report_passed_vetoes(
    result: Result, action: Action, target: str, shown: Sequence[Veto]
) -> None:
    """After a change that went ahead: the vetoes -f overrode and the
    warnings, once (not those the confirmation question printed)."""
    passed = [v for v in (*result.forced_past, *result.warnings) if v not in shown]
    if not passed:
        return
    if any(v in result.forced_past for v in passed):
        _err(f"{PROG}: {action.value} {target} done; -f overrode:")
    else:
        _err(f"{PROG}: {action.value} {target} done, with warnings:")
    for line in format_resource_table(passed):
        _err(line)


def _usage_error(message: str) -> int:
    _err(f"{PROG}: {message}")
    sys.stderr.write(SYNOPSIS)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cfgadm`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv: Any = command.main(args, prog_name=PROG, standalone_mode=False)
    except click.NoSuchOption as e:
        name = e.option_name
        if name.startswith("--"):
            return _usage_error(f"unrecognized option: {name}")
        return _usage_error(f"illegal option -- {name.lstrip('-')}")
    except click.UsageError as e:
        return _usage_error(e.format_message())
    except CfgadmExit as e:
        for line in e.lines:
            _err(f"{PROG}: {line}")
        return e.status
    except click.Abort:
        # click turns Ctrl-C (and EOF at a prompt) into Abort; it has already
        # ended the line on stderr.  A broken stdout pipe (`cfgadm -l | head`)
        # is handled by click itself (silent exit 1).
        _err(f"{PROG}: interrupted")
        return 130
    return rv if isinstance(rv, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
