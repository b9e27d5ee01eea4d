"""rcm_netkit: the kernel toolkit that rcm's network handlers share.

Links, addresses, named network namespaces, link events, gratuitous ARP /
unsolicited NA announcements and per-interface sysctls, behind one public API
so that a handler never reaches into another handler's internals.  It is a
library, not a plugin: it registers no hooks, and the engine (``rcm``) never
imports it.

Modules (docs/netkit.md is the guide):

- :mod:`rcm_netkit.names`: ``net/<ifname>`` resources, ``net:<ifname>`` ap ids
  and link events as typed values.
- :mod:`rcm_netkit.netlink`: links, addresses, routes, neighbours and rules;
  pyroute2 underneath, imported on first use.
- :mod:`rcm_netkit.addrbatch`: the one hand-encoded path (bulk address
  add/delete and the address dump), used through ``Netlink``.
- :mod:`rcm_netkit.netns`: named namespaces (``/run/netns/NAME``) and work
  inside them without a fork.
- :mod:`rcm_netkit.linkmonitor`: link up/down events (an rcm event source).
- :mod:`rcm_netkit.announce`: gratuitous ARP and unsolicited NA.
- :mod:`rcm_netkit.sysctl`: per-interface IP sysctls.
"""
