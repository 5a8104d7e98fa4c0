"""A big first list: its first rows are in the table before the rest of the list is converted, they are
the rows on top once it is (nothing jumps), and the list pane says how much is still coming."""

from __future__ import annotations

import asyncio

from tests.ui.helpers import VersApi, make_app, wait_until
from vmtui.providers import vers
from vmtui.providers.vers import FIRST_ROWS_FROM
from vmtui.services.poller import FIRST_ROWS
from vmtui.ui.screens.main import MainScreen
from vmtui.ui.widgets.vm_table import VmTable

COUNT = FIRST_ROWS_FROM + 4_000
ITEMS = [
    {
        "vm_id": f"vm-{(index * 7919) % COUNT:05d}",
        "state": "running",
        "created_at": f"2026-04-{1 + index % 28:02d}T{index % 24:02d}:00:00Z",
    }
    for index in range(COUNT)
]


async def test_the_first_rows_show_before_the_rest_is_converted_and_stay_on_top(monkeypatch):
    converted = 0
    checked = vers.checked_list_item

    def counting(raw, provider, aliases):
        nonlocal converted
        converted += 1
        return checked(raw, provider, aliases)

    monkeypatch.setattr(vers, "checked_list_item", counting)
    snapshots: list[tuple[int, list, int, str]] = []
    apply_fleets = MainScreen._apply_fleets

    def recording_apply_fleets(screen):
        apply_fleets(screen)
        subtitle = str(screen.query_one("#list-pane").border_subtitle or "")
        snapshots.append((converted, screen.table.index.keys(0, 30), screen.table.row_count, subtitle))

    monkeypatch.setattr(MainScreen, "_apply_fleets", recording_apply_fleets)
    converted_when_drawn: list[int] = []  # at each frame that drew rows
    render_lines = VmTable.render_lines

    def recording_render_lines(table, crop):
        if table.row_count:
            converted_when_drawn.append(converted)
        return render_lines(table, crop)

    monkeypatch.setattr(VmTable, "render_lines", recording_render_lines)

    async def screen_mounted() -> None:  # the list arrives once the screen can show it
        while not app.main_screen.is_mounted:
            await asyncio.sleep(0.01)

    app = make_app(VersApi(ITEMS, before_list=screen_mounted).provider())
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.main_screen.table
        await wait_until(pilot, lambda: table.row_count == COUNT and not table.loading, "every row", 60)
        top = table.index.keys(0, 30)

    first = next(snapshot for snapshot in snapshots if snapshot[2])
    converted_then, keys_then, rows_then, subtitle_then = first
    assert converted_then == FIRST_ROWS  # in the table before the rest of the list was converted
    assert converted_when_drawn[0] == FIRST_ROWS  # and drawn, too: the rest waited for that frame
    assert rows_then < COUNT
    assert keys_then == top  # the same rows on top once every VM is in: nothing jumps
    newest = max(raw["created_at"] for raw in ITEMS)
    assert top[0] == ("big", min(raw["vm_id"] for raw in ITEMS if raw["created_at"] == newest))
    assert subtitle_then.startswith(f"listing {rows_then:,} of {COUNT:,}")
