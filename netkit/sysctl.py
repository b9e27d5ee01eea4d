"""Per-interface IP sysctls, written through /proc/sys (no ``sysctl`` process).

/proc/sys/net is per network namespace: a write lands in the namespace of the
thread that opens the file.
"""

from __future__ import annotations

from .netlink import NetlinkError

PROC_SYS_NET = "/proc/sys/net"


def _check_component(what: str, value: str) -> None:
    # The name becomes a path component: refuse anything that could walk out of
    # /proc/sys/net/ipvN/conf/.
    if not value or "/" in value or ".." in value or "\0" in value or value == ".":
        raise NetlinkError(f"{value!r} is not a valid {what}")


def conf_path(ifname: str, family: int, key: str) -> str:
    """/proc/sys/net/ipv{4,6}/conf/IFNAME/KEY, after validating every part."""
    if family not in (4, 6):
        raise NetlinkError(f"{ifname}: {key}: family must be 4 or 6, not {family!r}")
    _check_component("interface name", ifname)
    _check_component("sysctl key", key)
    return f"{PROC_SYS_NET}/ipv{family}/conf/{ifname}/{key}"


def get_conf(ifname: str, family: int, key: str) -> str:
    """Current value of a per-interface sysctl, stripped."""
    path = conf_path(ifname, family, key)
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise NetlinkError(f"{ifname}: cannot read ipv{family} {key}: {e.strerror}") from e


def set_conf(ifname: str, family: int, key: str, value: str | int) -> None:
    """Write one per-interface sysctl; NetlinkError names the interface and key."""
    path = conf_path(ifname, family, key)
    try:
        with open(path, "w") as f:
            f.write(f"{value}\n")
    except OSError as e:
        raise NetlinkError(f"{ifname}: cannot set ipv{family} {key}={value}: {e.strerror}") from e


#: What a member of an address-moving group needs (all IPv4):
#: arp_ignore=1     answer ARP only for addresses on the receiving NIC, and
#: arp_announce=2   source ARP from an address of the sending NIC: together no
#:                  ARP flux, so peers learn the MAC of the NIC holding an address;
#: promote_secondaries=1  deleting a primary address promotes a secondary
#:                  instead of flushing every address of that subnet.
MEMBER_SETTINGS: tuple[tuple[int, str, int], ...] = (
    (4, "arp_ignore", 1),
    (4, "arp_announce", 2),
    (4, "promote_secondaries", 1),
)


def prepare_member(ifname: str) -> None:
    """Make ``ifname`` fit to host relocatable data addresses (see MEMBER_SETTINGS)."""
    for family, key, value in MEMBER_SETTINGS:
        set_conf(ifname, family, key, value)
