"""Errors that reach an admin: each says what is at fault, in one line."""

from __future__ import annotations


class RcmError(Exception):
    """Base of every error the product reports to a user (no traceback)."""


class ConfigError(RcmError):
    """A configuration file is malformed or contradictory.

    The message names the file, the key and the fault, e.g.
    ``/etc/rcm/interfaces/nic0.toml: addresses[1]: '192.0.2.300/24' is not an IP address``.
    """

    def __init__(self, path: object, key: str, fault: str) -> None:
        self.path = str(path)
        self.key = key
        self.fault = fault
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(one_line(where + fault))


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped as Python would (``\\n``,
    ``\\udcff``): a file name or a TOML key may hold a newline, and the error must stay one
    line that cannot be mistaken for two."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BusyError(RcmError):
    """A resource, its ancestor or descendant is already in an operation."""


class HardwareError(RcmError):
    """The hardware step of an attach or detach failed."""


class HandlerError(RcmError):
    """A handler raised, timed out, or is still stuck in an earlier call."""


class OperationFenced(RcmError):
    """A handler acted through its context after its operation had ended.

    A handler that timed out keeps running in its thread (Python cannot kill
    a thread); every call it then makes through ``ctx`` raises this, so its
    late work cannot start operations, write the store or speak to the admin.
    """
