"""The IPMP admin's commands: ``ipmpstat`` and ``if_mpadm``, after Solaris'.

Clients of rcmd only, like cfgadm: they ask rcmd over its control socket
(``rcm.client``) and never import the IPMP handler (``rcm_ipmp``) or its
kernel toolkit (pyroute2), so they start as fast as ``cfgadm -l``.  A package
of their own rather than ``plugins/ipmp/cli``: the handler is what rcmd
loads, these are what an admin runs, and keeping them apart keeps the
handler's imports out of every command's start-up.
"""
