"""cfgadm with a fake kernel whose PCI card carries a real NIC of the lab.

Run inside the lab's host namespace (``ip netns exec``)::

    python hw_lab_driver.py SYSFS STASH HOLDING_NS HOST_NS -- cfgadm args...

The fake kernel reacts to writes into SYSFS (the lab's ``[plugins.hw]
sysfs``); when the fake card's NIC leaves or returns, the real veth of that
name moves to the holding namespace or back (and is set up), as the NIC of a
removed card would vanish from the host.  Then cfgadm runs in this process
(the in-process engine, every installed plugin) and its status is ours.
"""

from __future__ import annotations

import subprocess
import sys

from rcm_hw.fakekernel import FakeKernel

import cfgadm.cli as cli


def main(argv: list[str]) -> int:
    sysfs, stash, holding, host = argv[:4]
    args = argv[argv.index("--") + 1 :]

    def on_net(ifname: str, present: bool) -> None:
        if present:
            subprocess.run(["ip", "-n", holding, "link", "set", ifname, "netns", host], check=True)
            subprocess.run(["ip", "link", "set", ifname, "up"], check=True)
        else:
            subprocess.run(["ip", "link", "set", ifname, "netns", holding], check=True)

    with FakeKernel(sysfs, on_net=on_net, stash=stash):
        return cli.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
