"""Bug 3: the VM list's columns fit the width; Home/End move along rows, never sideways."""

from __future__ import annotations

import pytest

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.widgets.column_fit import CELL_PADDING, fit_columns
from vmtui.ui.widgets.vm_table import COLUMNS


@pytest.mark.parametrize("available", [20, 40, 60, 80, 100, 120, 140, 200, 300])
def test_columns_never_need_more_than_the_width(available):
    widths = fit_columns([column.fit for column in COLUMNS], available)
    assert sum(widths.values()) + CELL_PADDING * len(widths) <= max(available, 12 + 2 * len(widths))
    assert widths["name"] >= 12  # the name is the last thing to go


def test_least_important_columns_go_first():
    specs = [column.fit for column in COLUMNS]
    narrow, wide = fit_columns(specs, 50), fit_columns(specs, 200)
    assert narrow["labels"] == narrow["parent"] == 0 and narrow["state"] > 0
    assert all(wide[key] > 0 for key in wide) and wide["labels"] >= 10


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_no_sideways_scroll_and_home_end_move_the_cursor(size):
    app = make_app(demo_provider())
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        assert table.max_scroll_x == 0
        assert table.virtual_size.width <= table.scrollable_content_region.width
        await pilot.press("end")
        assert table.scroll_x == 0 and table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.scroll_x == 0 and table.cursor_row == 0
