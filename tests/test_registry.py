"""The registry: names handlers register by name reach the ap backends (empty receptacles)."""

from __future__ import annotations

from pathlib import Path

from rcm import hookimpl
from rcm.model import ApInfo, Condition, Occupant, Receptacle
from rcm.testing import Harness

DEV = "/devices/s1"


class Consumer:
    """Registers whatever it is given."""

    def __init__(self, resources: list[str]) -> None:
        self.resources = resources

    @hookimpl
    def rcm_register(self, ctx):
        return self.resources


class Shelf:
    """An ap class whose empty receptacles are the ``box/<name>`` resources
    that handlers registered by name: what the net plugin does for NICs."""

    prefix = "shelf"

    def __init__(self, ctx) -> None:
        self.ctx = ctx  # kept from rcm_ap_backends, asked on every listing

    def list(self) -> list[ApInfo]:
        return [
            ApInfo(
                "shelf:" + r.removeprefix("box/"),
                "box",
                Receptacle.EMPTY,
                Occupant.UNCONFIGURED,
                Condition.UNKNOWN,
                resources=(r,),
            )
            for r in self.ctx.registered_resources("box/")
        ]

    def get(self, ap_id: str) -> ApInfo | None:
        return next((ap for ap in self.list() if ap.ap_id == ap_id), None)

    def supports(self, action) -> bool:
        return False


class ShelfPlugin:
    @hookimpl
    def rcm_ap_backends(self, ctx):
        return [Shelf(ctx)]


def test_names_registered_by_any_handler_are_listed_for_ap_backends(tmp_path: Path) -> None:
    """Explicit names from every handler, once each, sorted; globs left out;
    the answer follows re-registration."""
    b = Consumer(["box/two", "box/one", "box/[xy]", "box/?"])
    with Harness(
        tmp_path, {"a": Consumer(["box/*", "box/one", DEV]), "b": b, "shelf": ShelfPlugin()}
    ) as h:
        ids = [ap.ap_id for ap in h.listing(verbose=False).aps if ap.ap_id.startswith("shelf:")]
        assert ids == ["shelf:one", "shelf:two"]
        b.resources = ["box/three"]
        h.coordinator.refresh_registrations()
        ids = [ap.ap_id for ap in h.listing(verbose=False).aps if ap.ap_id.startswith("shelf:")]
        assert ids == ["shelf:one", "shelf:three"]
        assert h.coordinator.registered_names() == ["/devices/s1", "box/one", "box/three"]
