"""A fleet whose lineage is still being fetched: rows at once, `live`, and the progress in the status bar."""

from __future__ import annotations

import asyncio

from tests.ui.helpers import VersApi, make_app, wait_until
from vmtui.ui.widgets.status_bar import StatusBar

COUNT = 30
VMS = [{"vm_id": f"vm{i}", "state": "running"} for i in range(COUNT)]


async def test_rows_come_first_and_the_status_bar_shows_lineage_progress():
    release = asyncio.Event()

    async def slow_metadata(vm_id: str) -> dict:
        """Every metadata request waits for `release`."""
        await release.wait()
        parent = None if vm_id == "vm0" else "c0"  # c0 was taken of vm0
        return {"vm_id": vm_id, "state": "running", "parent_commit_id": parent}

    api = VersApi(VMS, commits=[{"commit_id": "c0", "parent_vm_id": "vm0"}], metadata=slow_metadata)
    provider = api.provider()
    app = make_app(provider)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: screen.table.row_count == COUNT, "the rows", timeout=30)
        status = screen.query_one(StatusBar)
        text = status.render_status().plain
        assert "live" in text and "offline" not in text and f"lineage 0/{COUNT}" in text

        release.set()
        await wait_until(pilot, lambda: "lineage" not in status.render_status().plain, "lineage complete", 30)
        in_rows = lambda: screen.table.vms[("big", "vm5")].parent_commit_id == "c0"
        await wait_until(pilot, in_rows, "lineage in rows", timeout=30)
        await provider.aclose()


async def test_the_first_list_request_overlaps_the_mount_of_the_panes():
    """Polling starts while the screen composes: the list is already on its way (here: answered) before
    the panes have mounted, and its rows are the first thing the mounted screen shows."""
    mounted_when_listed: list[bool] = []
    provider = VersApi(
        VMS, before_list=lambda: mounted_when_listed.append(app.main_screen.is_mounted)
    ).provider()
    app = make_app(provider)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.main_screen.table.row_count == COUNT, "the rows", timeout=30)
        assert mounted_when_listed[0] is False
        await provider.aclose()
