"""While lineage streams in, what each publish built is frozen from the cyclic GC (whose full passes over
10,000 VMs' rows and tree nodes stalled the UI for 0.2-0.4 s); when the stream ends it is unfrozen."""

from __future__ import annotations

import asyncio
import gc

import httpx
import pytest

from bench.bench_tui import PROFILE, MockVersApi
from tests.ui.helpers import make_app, wait_until
from vmtui.providers.vers import VersProvider

VMS = 150


class HeldVersApi(MockVersApi):
    """The mock Vers API, holding the last VM's metadata request until `release` is set."""

    def __init__(self, count: int):
        super().__init__(count)
        self.release = asyncio.Event()

    async def handle_held(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/api/v1/vm/{self.vms[-1]['vm_id']}/metadata":
            await self.release.wait()
        return self.handle(request)

    def provider(self) -> VersProvider:
        return VersProvider(
            PROFILE, "https://api.vers.sh", "bench-key", transport=httpx.MockTransport(self.handle_held)
        )


@pytest.mark.parametrize("held_answer", ["metadata", "not found"])
async def test_objects_are_frozen_while_lineage_streams_in_and_unfrozen_after(
    monkeypatch, tmp_path, held_answer
):
    """Unfrozen when the stream ends, whether its last answer changed the fleet (lineage learned) or not
    (the VM was deleted meanwhile: the list stays the same object)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a cold lineage cache: the stream runs
    api = HeldVersApi(VMS)
    held = api.vms[-1]["vm_id"]
    app = make_app(api.provider())
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            screen = app.main_screen
            await wait_until(
                pilot,
                lambda: (
                    (result := screen.fleet.results.get(PROFILE)) is not None
                    and result.lineage == (VMS - 1, VMS)
                ),
                "all lineage but the held VM's published",
            )
            assert screen.fleet.enriching and gc.get_freeze_count() > 0
            if held_answer == "not found":
                del api.parents[held]
            api.release.set()
            await wait_until(pilot, lambda: not screen.fleet.enriching, "lineage stream ended")
            await pilot.pause()
            assert gc.get_freeze_count() == 0
            shown = screen.table.vms[(PROFILE, held)].parent_commit_id
            assert shown == api.parents.get(held)
    finally:
        gc.unfreeze()
