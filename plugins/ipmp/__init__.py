"""rcm_ipmp: the IPMP handler (IP multipathing, Solaris 10 semantics).

NICs in a group share relocatable data addresses.  The handler vetoes
detaching a NIC in no group (that carries addresses) or the group's last
working member, fails data addresses over (gratuitous ARP / unsolicited NA)
before a detach, restores a reattached NIC from its interface file and fails
its addresses back, and hosts the addresses of NICs missing at boot.
"""
