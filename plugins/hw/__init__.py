"""rcm_hw: the hardware attachment points, read from sysfs.

PCI hotplug slots and PCI devices, USB devices, CPUs, memory blocks and SCSI
controllers with their disks, each a small ap class (one module each) over
:class:`rcm_hw.sysfs.Sysfs`, whose root is configurable (``[plugins.hw]
sysfs``) so that tests point it at a fake tree.  The plugin also maps a
device to the resources it carries (``net/<ifname>``, ``block/<name>``) and
names the interfaces stacked on a NIC as its dependents (docs/hardware.md).
"""
