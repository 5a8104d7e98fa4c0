"""Issue 14: a big first list shows its top rows in the first frame, before the rest is indexed; those
rows never move while the rest arrives a slice at a time; keys and the filter work meanwhile, and the
filter finds the last VM once it is in. The whole app says how far the listing is."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from textual.app import App, ComposeResult

from tests.ui.helpers import make_app, wait_until
from vmtui.core.models import Vm, VmState
from vmtui.providers.vers import VersProvider
from vmtui.services import vm_index
from vmtui.services.filter import parse_filter
from vmtui.ui.widgets.vm_table import VmTable

COUNT = 1_000
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def fleet() -> list[Vm]:
    return [
        Vm(
            provider="p",
            id=f"vm-{n:05d}",
            state=VmState.RUNNING,
            created_at=BASE + timedelta(minutes=(n * 37) % 500),  # ages tie: the key decides
            labels={"team": f"t{n % 7}"},
        )
        for n in range(COUNT)
    ]


def top_rows(vms: list[Vm], count: int) -> list[tuple[str, str]]:
    """The reference: newest first (the table's default order), ties by key."""
    ranked = sorted(vms, key=lambda vm: (-vm.created_at.timestamp(), vm.key))
    return [vm.key for vm in ranked[:count]]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield VmTable(now=time.time)


async def test_the_first_frame_shows_the_top_rows_before_the_rest_is_indexed(monkeypatch):
    monkeypatch.setattr(vm_index, "LOAD_SLICE", 100)
    drawn_while_loading: list[int] = []
    render_line = VmTable.render_line

    def recording(self, y):
        if y > 0 and self.row_count:
            drawn_while_loading.append(self.loading)
        return render_line(self, y)

    monkeypatch.setattr(VmTable, "render_line", recording)
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(VmTable)
        vms = fleet()
        table.set_fleet(vms)
        first = table.row_keys()
        assert first == top_rows(vms, vm_index.FIRST_ROWS) and table.loading == COUNT - len(first)
        await wait_until(pilot, lambda: not table.loading, "the rest of the list")
        assert drawn_while_loading and drawn_while_loading[0] == COUNT - len(first)  # drawn first
        assert table.row_keys() == top_rows(vms, COUNT)
        assert table.row_keys()[: len(first)] == first  # the rows on top never moved


async def test_the_cursor_and_the_filter_work_while_loading_and_the_filter_finds_the_last_vm(monkeypatch):
    monkeypatch.setattr(vm_index, "LOAD_SLICE", 100)
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(VmTable)
        table.set_fleet(fleet())
        table.move_cursor(2)
        chosen = table.selected_key
        table._warm_up_slice()  # one slice of several, as if the event loop had turned once
        assert table.loading and table.selected_key == chosen and table.cursor_row == 2
        last = ("p", f"vm-{COUNT - 1:05d}")
        table.set_filter(parse_filter(last[1]))
        assert table.row_keys() == ([last] if last in table.index._indexed else [])
        await wait_until(pilot, lambda: not table.loading, "the rest of the list")
        assert table.row_keys() == [last]


async def test_the_app_lists_a_big_fleet_in_stages_and_says_so(monkeypatch):
    monkeypatch.setattr(vm_index, "LOAD_SLICE", 100)
    subtitles: list[str] = []
    items = [
        {"vm_id": f"vm-{n:05d}", "state": "running", "created_at": f"2026-04-{1 + n % 28:02d}T12:00:00Z"}
        for n in range(COUNT)
    ]

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/vm":
            return httpx.Response(200, json=items)
        if request.url.path == "/api/v1/commits":
            return httpx.Response(200, json={"commits": [], "total": 0})
        if request.url.path.endswith("/metadata"):
            return httpx.Response(200, json={"vm_id": request.url.path.split("/")[4], "state": "running"})
        return httpx.Response(404, json={"error": "not found"})

    provider = VersProvider("big", "https://api.vers.sh", "key", transport=httpx.MockTransport(api))
    app = make_app(provider)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.main_screen
        pane = screen.query_one("#list-pane")
        await wait_until(pilot, lambda: screen.table.row_count > 0, "the first rows")
        subtitles.append(str(pane.border_subtitle))
        await wait_until(pilot, lambda: screen.table.row_count == COUNT, "every row")
        await pilot.pause()
        subtitles.append(str(pane.border_subtitle))
        assert subtitles[0].startswith("listing ") and subtitles[0].endswith(f" of {COUNT:,}")
        assert subtitles[1] == ""
        await provider.aclose()
