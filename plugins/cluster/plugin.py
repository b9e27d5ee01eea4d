"""Entry point of the cluster-ring handler (``cluster = "rcm_cluster.plugin:plugin"``)."""

from .handler import ClusterHandler

plugin = ClusterHandler()
