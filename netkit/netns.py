"""Named network namespaces (``/run/netns/NAME``) without shelling out to ``ip``.

A detached NIC lives in a holding namespace, so the network plugin must create
that namespace, tell whether it exists, and open sockets inside it.

Two facts shape this module (see the field notes):

* A namespace file that was bind-mounted inside another mount namespace (by a
  process under ``ip netns exec``) looks like an empty regular file from here,
  and ``setns()`` on it fails with EINVAL.  :func:`netns_exists` therefore
  checks that the path really is an nsfs mount, not merely that it exists.
* Python 3.11 has no ``os.setns``; we call libc through ctypes.  ``setns`` with
  CLONE_NEWNET changes only the calling *thread*, so work inside another
  namespace runs in a short-lived thread (:func:`call_in_netns`) and the
  caller's thread never changes namespace.  Sockets stay bound to the namespace
  they were created in, so a socket made in such a thread keeps working there
  after the thread is gone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from rcm.errors import RcmError

NETNS_RUN_DIR = "/run/netns"

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 0x2

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RcmError):
    """A named namespace cannot be created, opened or entered."""


def _check_name(name: str) -> str:
    """Refuse names that would escape /run/netns or that ``ip`` would refuse."""
    if not name or "/" in name or "\0" in name or name in (".", "..") or len(name) > 255:
        raise NetnsError(f"{name!r} is not a valid network namespace name")
    return name


def netns_path(name: str) -> str:
    """The file that names the namespace (as ``ip netns`` lays them out)."""
    return os.path.join(NETNS_RUN_DIR, _check_name(name))


def _nsfs_dev() -> int:
    # Every namespace file lives on the one nsfs superblock: our own
    # /proc/self/ns/net tells us its device number.
    return os.stat("/proc/self/ns/net").st_dev


def netns_exists(name: str) -> bool:
    """True if /run/netns/NAME is a usable network namespace *in this mount namespace*.

    An empty placeholder file (the namespace was mounted in another mount
    namespace, or a crashed ``ip netns add`` left it) counts as absent.
    """
    try:
        st = os.stat(netns_path(name))
    except FileNotFoundError:
        return False
    return st.st_dev == _nsfs_dev()


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """Move the calling thread into the namespace ``fd`` refers to."""
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    src = source.encode() if source is not None else None
    fst = fstype.encode() if fstype is not None else None
    if _libc.mount(src, target.encode(), fst, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _umount(target: str) -> None:
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def open_netns(name: str) -> int:
    """An O_RDONLY fd for namespace NAME (caller closes it); never creates it."""
    path = netns_path(name)
    if not netns_exists(name):
        if os.path.exists(path):
            raise NetnsError(
                f"network namespace {name!r}: {path} is not a namespace mount here "
                "(created in another mount namespace?)"
            )
        raise NetnsError(f"network namespace {name!r} does not exist")
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetnsError(f"network namespace {name!r}: {e.strerror}") from e


def call_in_netns(name: str, fn: Callable[..., T], *args: object) -> T:
    """Run ``fn(*args)`` in a fresh thread that has entered namespace NAME.

    The calling thread's namespace is never touched.  Exceptions from ``fn``
    propagate to the caller.  Cost: one thread start and two syscalls (about
    0.1 ms); no fork.
    """
    fd = open_netns(name)
    outcome: dict[str, object] = {}

    def body() -> None:
        try:
            try:
                setns(fd, CLONE_NEWNET)
            except OSError as e:
                raise NetnsError(f"cannot enter network namespace {name!r}: {e.strerror}") from e
            outcome["value"] = fn(*args)
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    try:
        t = threading.Thread(target=body, name=f"netns:{name}", daemon=True)
        t.start()
        t.join()
    finally:
        os.close(fd)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _make_run_dir_shared() -> None:
    """Make /run/netns a shared mount, as ``ip netns add`` does.

    Then a namespace mounted later propagates into mount namespaces that are
    slaves of this one (processes under ``ip netns exec``) instead of showing
    there as an empty file.
    """
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    try:
        _mount(None, NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        # Not a mount point yet: bind it onto itself, then mark it shared.
        _mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC)
        _mount(None, NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)


def ensure_netns(name: str) -> bool:
    """Create network namespace NAME unless it exists; True if it was created.

    Works like ``ip netns add``: a thread unshares a new network namespace and
    its /proc/thread-self/ns/net is bind-mounted onto /run/netns/NAME.  The
    bind mount is made in *this process's* mount namespace: call it from the
    daemon (root mount namespace), not from under ``ip netns exec``.
    """
    path = netns_path(name)
    if netns_exists(name):
        return False
    try:
        _make_run_dir_shared()
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
        os.close(fd)
    except OSError as e:
        raise NetnsError(f"cannot create network namespace {name!r}: {e}") from e

    def body() -> None:
        if _libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare: {os.strerror(err)}")
        _mount("/proc/thread-self/ns/net", path, "none", MS_BIND)

    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            body()
        except BaseException as e:
            outcome["error"] = e

    t = threading.Thread(target=run, name=f"netns-add:{name}", daemon=True)
    t.start()
    t.join()
    if "error" in outcome:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise NetnsError(f"cannot create network namespace {name!r}: {outcome['error']}")
    return True


def delete_netns(name: str) -> bool:
    """Remove namespace NAME as ``ip netns delete`` does; True if it existed.

    Links still inside a deleted namespace go back to the root namespace
    (physical NICs) or are destroyed (virtual ones) once nothing holds it.
    """
    path = netns_path(name)
    if not os.path.exists(path):
        return False
    try:
        if netns_exists(name):
            _umount(path)
        os.unlink(path)
    except OSError as e:
        raise NetnsError(f"cannot delete network namespace {name!r}: {e}") from e
    return True
