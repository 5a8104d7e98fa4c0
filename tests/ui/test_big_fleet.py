"""A fleet whose lineage is still being fetched: rows at once, `live`, and the progress in the status bar."""

from __future__ import annotations

import asyncio

import httpx

from tests.ui.helpers import make_app
from vmtui.providers.vers import VersProvider
from vmtui.ui.widgets.status_bar import StatusBar

COUNT = 30


class SlowMetadataVers:
    """The list answers at once; every metadata request waits for `release`."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/api/v1/vm", "/api/v1/vms"):
            return httpx.Response(200, json=[{"vm_id": f"vm{i}", "state": "running"} for i in range(COUNT)])
        if path.endswith("/metadata"):
            await self.release.wait()
            vm_id = path.split("/")[4]
            parent = None if vm_id == "vm0" else "c0"  # c0 was taken of vm0
            return httpx.Response(200, json={"vm_id": vm_id, "state": "running", "parent_commit_id": parent})
        if path == "/api/v1/commits":
            return httpx.Response(
                200, json={"commits": [{"commit_id": "c0", "parent_vm_id": "vm0"}], "total": 1}
            )
        return httpx.Response(404, json={"error": "not found"})


async def until(pilot, condition, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


async def test_rows_come_first_and_the_status_bar_shows_lineage_progress():
    api = SlowMetadataVers()
    provider = VersProvider("big", "https://api.vers.sh", "key", transport=httpx.MockTransport(api))
    app = make_app(provider)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.main_screen
        await until(pilot, lambda: screen.table.row_count == COUNT, "the rows")
        status = screen.query_one(StatusBar)
        text = status.render_status().plain
        assert "live" in text and "offline" not in text and f"lineage 0/{COUNT}" in text

        api.release.set()
        await until(pilot, lambda: "lineage" not in status.render_status().plain, "lineage complete")
        await until(
            pilot, lambda: screen.table.vms[("big", "vm5")].parent_commit_id == "c0", "lineage in rows"
        )
        await provider.aclose()


async def test_the_first_list_request_overlaps_the_mount_of_the_panes():
    """Polling starts while the screen composes: the list is already on its way (here: answered) before
    the panes have mounted, and its rows are the first thing the mounted screen shows."""
    mounted_when_listed: list[bool] = []
    app = None

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/api/v1/vm", "/api/v1/vms"):
            mounted_when_listed.append(app.main_screen.is_mounted)
            return httpx.Response(200, json=[{"vm_id": f"vm{i}", "state": "running"} for i in range(COUNT)])
        if request.url.path == "/api/v1/commits":
            return httpx.Response(200, json={"commits": [], "total": 0})
        return httpx.Response(404, json={"error": "not found"})

    provider = VersProvider("big", "https://api.vers.sh", "key", transport=httpx.MockTransport(api))
    app = make_app(provider)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.main_screen.table.row_count == COUNT, "the rows")
        assert mounted_when_listed[0] is False
        await provider.aclose()
