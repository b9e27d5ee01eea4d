"""rcm_cpu: the CPU handler (CPUs and memory blocks).

The last online CPU is never taken offline (system); a CPU that processes are
pinned to alone (their ``Cpus_allowed_list`` is that CPU) is a warning naming
them (the kernel moves them, breaking the pinning); a memory block that is
not ``removable`` (in use by the kernel) is refused (system).
"""
