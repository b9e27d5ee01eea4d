"""The resource graph in the coordinator (``rcm_dependents``): dependents are
asked first, offlined first, locked with the operation, restored in reverse
on rollback, removed with the rest, and shown as a tree by ``cfgadm -lv``."""

from __future__ import annotations

from pathlib import Path

from rcm import hookimpl
from rcm.model import Impact, Outcome, Veto
from rcm.testing import Harness

# slot s1 carries /devices/s1 and net/nic0; on nic0 sit br0 and mv0; on br0, vlan br0.5
GRAPH = {"net/nic0": ["net/br0", "net/mv0"], "net/br0": ["net/br0.5"]}


class Stack:
    """Names the graph (and nothing else)."""

    @hookimpl
    def rcm_dependents(self, ctx, resource):
        return GRAPH.get(resource)


class Consumer:
    """Consumes every net/ resource; may veto one."""

    def __init__(self, veto: dict[str, Veto] | None = None) -> None:
        self.veto = veto or {}

    @hookimpl
    def rcm_register(self, ctx):
        return ["net/*"]

    @hookimpl
    def rcm_get_info(self, ctx, resource):
        return f"uses {resource}"

    @hookimpl
    def rcm_request_offline(self, ctx, resource, query, force):
        return self.veto.get(resource) if query else None

    @hookimpl
    def rcm_notify_online(self, ctx, resource):
        pass

    @hookimpl
    def rcm_notify_remove(self, ctx, resource, surprise):
        pass


def harness(tmp_path: Path, consumer: Consumer | None = None) -> Harness:
    return Harness(
        tmp_path,
        plugins={"stack": Stack(), "use": consumer or Consumer()},
        slots={"s1": ["/devices/s1", "net/nic0"]},
    )


def test_dependents_are_queried_and_offlined_first_and_removed(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        assert h.detach("slot:s1").outcome is Outcome.DONE
        steps = h.calls.steps("use")
        deepest_first = ["net/br0.5", "net/br0", "net/mv0", "net/nic0"]
        assert [t for _, s, t in steps if s == "query"] == deepest_first
        assert [t for _, s, t in steps if s == "offline"] == deepest_first
        assert {t for _, s, t in steps if s == "remove"} == set(deepest_first)


def test_a_dependent_veto_names_the_dependent(tmp_path: Path) -> None:
    veto = Veto("br0 carries 198.51.100.1/24", Impact.DATA)
    with harness(tmp_path, Consumer({"net/br0": veto})) as h:
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.VETOED
        assert [(v.resource, v.reason) for v in result.blocking] == [
            ("net/br0", "br0 carries 198.51.100.1/24")
        ]
        # the refusal's table shows the whole graph's uses
        assert {u.resource for u in result.usage} == {
            "net/br0.5",
            "net/br0",
            "net/mv0",
            "net/nic0",
        }
        assert not [c for c in h.calls.steps("use") if c[1] == "offline"]


def test_rollback_restores_dependents_in_reverse(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        h.fail_hardware()
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.FAILED and result.rolled_back
        online = [t for _, s, t in h.calls.steps("use") if s == "online"]
        assert online == ["net/nic0", "net/mv0", "net/br0", "net/br0.5"]


def test_dependents_are_locked_with_the_operation(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        from rcm.model import Action

        op = h.coordinator.admit(Action.UNCONFIGURE, "slot:s1", False)
        assert not hasattr(op, "outcome"), op
        holder = h.coordinator.locks.holder("net/br0.5")
        assert holder is op
        h.coordinator.locks.release(op.token)


def test_lv_tree(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        listing = h.listing(ap_ids=["slot:s1"])
        assert listing.tree["slot:s1"] == [
            ("/devices/s1", 0),
            ("net/nic0", 0),
            ("net/br0", 1),
            ("net/br0.5", 2),
            ("net/mv0", 1),
        ]
        from cfgadm.output import ListingOptions, format_listing

        lines = format_listing(listing, ListingOptions(), verbose=True)
        col = lines[0].index("Information")
        assert [line[col:] for line in lines[1:]] == [
            "/devices/s1",
            "net/nic0",
            "  uses net/nic0 (use)",
            "  net/br0",
            "    uses net/br0 (use)",
            "    net/br0.5",
            "      uses net/br0.5 (use)",
            "  net/mv0",
            "    uses net/mv0 (use)",
        ]


def test_a_cycle_is_walked_once(tmp_path: Path) -> None:
    GRAPH["net/br0.5"] = ["net/nic0"]
    try:
        with harness(tmp_path) as h:
            assert h.detach("slot:s1").outcome is Outcome.DONE
            offline = [t for _, s, t in h.calls.steps("use") if s == "offline"]
            assert sorted(offline) == sorted(set(offline))
    finally:
        del GRAPH["net/br0.5"]


def test_a_disk_pulled_behind_rcms_back_is_a_surprise_removal(tmp_path: Path) -> None:
    """The fake kernel emits the uevents udev would; the hw plugin maps the
    block ``remove`` to ``block/sda``, and its consumer is told it is gone."""
    from rcm_hw.fakekernel import FakeKernel
    from rcm_hw.faketree import FakeSysfs
    from rcm_hw.plugin import HwPlugin

    class Disk:
        removed: list[tuple[str, bool]] = []

        @hookimpl
        def rcm_register(self, ctx):
            return ["block/*"]

        @hookimpl
        def rcm_notify_remove(self, ctx, resource, surprise):
            self.removed.append((resource, surprise))

    FakeSysfs(tmp_path / "sys").scsi_disk("0:0:0:0", "sda", partitions=["sda1"])
    toml = f'[plugins.hw]\nsysfs = "{tmp_path / "sys"}"\n'
    disk = Disk()
    with FakeKernel(tmp_path / "sys") as kernel:
        with Harness(tmp_path / "h", plugins={"hw": HwPlugin(), "disk": disk}, rcm_toml=toml) as h:
            kernel.post = h.event
            kernel.write("class/scsi_device/0:0:0:0/device/delete", "1")  # not through rcm
    assert ("block/sda", True) in disk.removed and ("block/sda1", True) in disk.removed
