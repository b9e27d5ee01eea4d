"""cfgadm: the administrator's command for attachment points (Solaris cfgadm(1M)).

The package imports nothing heavy at start-up: ``cfgadm --help`` and usage
errors must answer in tens of milliseconds, and listing must not pay for
pyroute2 (about 200 ms) or tabulate.  The engine is reached through
:func:`rcm.client.open_service`, imported only when a command really runs.
"""
