"""rcm_net: the network plugin.

It provides the ``net:`` attachment points (a NIC whose receptacle is the
host's network namespace; detaching moves it to a holding namespace, just as
an unplugged NIC vanishes), maps udev's net uevents to ``net/<ifname>``
resources, and runs the netlink link monitor.  Its low-level modules
(netlink, announce, sysctl, netns) are shared with the IPMP handler.
"""
