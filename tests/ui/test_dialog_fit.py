"""Issue 15 bug 7: at 80x24 every field of a form dialog can be reached with Tab and is on screen."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.screens.form import FormScreen

SIZE = (80, 24)


@pytest.mark.parametrize(
    ("key", "profiles"),
    [("n", 1), ("n", 2), ("b", 1), ("c", 1)],
    ids=["new", "new-2-profiles", "branch", "commit"],
)
async def test_tab_through_a_form_keeps_the_focused_field_on_screen(key, profiles):
    app = make_app(*(demo_provider(name) for name in ("local", "other")[:profiles]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press(key)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FormScreen)
        visited = 0
        while not (isinstance(app.focused, Button) and app.focused.id == "ok"):
            await pilot.press("tab")
            await pilot.pause()
            visited += 1
            assert visited < 30, "Tab never reached OK"
            focused = app.focused
            assert focused is not None
            assert screen.region.contains_region(focused.region), (focused, focused.region)
        ok = app.focused
        assert screen.region.contains_region(ok.region) and ok.region.height > 0
