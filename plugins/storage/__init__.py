"""rcm_storage: the storage handler.

Before a disk leaves (a SCSI device deleted, a PCI or USB controller removed),
it asks whether anything is mounted on the disk, its partitions, or the
device-mapper and md devices built on them (sysfs ``holders/``), and vetoes:
``data`` for a mounted filesystem, ``system`` for ``/``, ``/usr``, ``/var``
or active swap.  It never unmounts anything, ``-f`` or not.
"""
