"""Entry point of the IPMP handler (``rcm.plugins``: ``ipmp = "rcm_ipmp.plugin:plugin"``)."""

from .handler import IpmpHandler

plugin = IpmpHandler()
