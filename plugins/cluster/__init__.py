"""rcm_cluster: the cluster-ring handler (corosync).

A corosync node talks to its peers over one or more rings (knet links), each
bound to an address of the node (``ring0_addr``, ``ring1_addr`` … in
corosync.conf's nodelist).  Detaching the NIC that carries the only working
ring of a running node cuts the node off: its peers fence it.  This handler
vetoes that at level ``system`` (``cfgadm -f`` cannot override it), naming the
ring, and warns when another ring survives.  docs/plugins/cluster.md.
"""
