"""The VM table works out what every line of a frame shares (width, base style) once per frame: the base
style walks every ancestor's styles, and per line it was two thirds of a table frame."""

from __future__ import annotations

from textual.dom import DOMNode
from textual.geometry import Region

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.widgets.vm_table import VmTable


async def test_a_frame_works_out_the_base_style_once_and_draws_what_each_line_draws(monkeypatch):
    app = make_app(demo_provider())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        assert table.row_count > 3
        lines_one_by_one = [table.render_line(y).text for y in range(table.size.height)]
        looked_up = 0
        rich_style = DOMNode.rich_style

        def counting(node):
            nonlocal looked_up
            looked_up += 1
            return rich_style.fget(node)

        monkeypatch.setattr(VmTable, "rich_style", property(counting))
        table._styles_cache.clear()
        strips = table.render_lines(Region(0, 0, table.size.width, table.size.height))
        assert looked_up == 1
        assert [strip.text for strip in strips] == lines_one_by_one
