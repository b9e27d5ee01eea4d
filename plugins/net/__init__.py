"""rcm_net: the network plugin.

It provides the ``net:`` attachment points (a NIC whose receptacle is the
host's network namespace; detaching moves it to a holding namespace, just as
an unplugged NIC vanishes), maps udev's net uevents to ``net/<ifname>``
resources, and runs the netlink link monitor.  The kernel work is done by the
shared toolkit, :mod:`rcm_netkit`; this plugin knows nothing of IPMP.
"""
