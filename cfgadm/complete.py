"""Shell completion of cfgadm's ap ids and functions (click's completion).

Enable it (docs/cfgadm.md, "Shell completion")::

    eval "$(_CFGADM_COMPLETE=bash_source cfgadm)"    # bash, e.g. in ~/.bashrc
    eval "$(_CFGADM_COMPLETE=zsh_source cfgadm)"     # zsh, e.g. in ~/.zshrc

ap ids come from rcm's listing (rcmd's, or the in-process engine's when no
rcmd runs): what ``cfgadm -l`` would list.  A completion never fails: when
rcm cannot be reached it offers nothing.
"""

from __future__ import annotations

from typing import Any

FUNCTIONS = ("configure", "unconfigure", "connect", "disconnect")


def complete_function(ctx: Any, param: Any, incomplete: str) -> list[str]:
    return [f for f in FUNCTIONS if f.startswith(incomplete)]


def ap_ids() -> list[str]:
    """Every ap id rcm lists now ([] when it cannot be reached)."""
    from cfgadm import cli  # the seam tests replace (cli.open_service)

    try:
        service = cli.open_service(False)
    except Exception:  # noqa: BLE001 - completion must never print a traceback
        return []
    try:
        return [ap.ap_id for ap in service.list_aps([], False).aps]
    except Exception:  # noqa: BLE001
        return []
    finally:
        try:
            service.close()
        except Exception:  # noqa: BLE001
            pass


def complete_ap_id(ctx: Any, param: Any, incomplete: str) -> list[str]:
    return [a for a in ap_ids() if a.startswith(incomplete)]
