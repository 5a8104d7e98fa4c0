"""Issue 15 bug 8: a narrow footer keeps its most useful hints and always `? Help`."""

from __future__ import annotations

import pytest
from textual.widgets import Footer

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.actions import BY_ID
from vmtui.ui.widgets.footer_hint import FooterHint


def _shown_ids(app) -> list[str]:
    footer = app.main_screen.query_one(Footer)
    by_action = {action.binding().action: action.id for action in BY_ID.values()}
    return [by_action[key.action] for key in footer.query(FooterHint)]


@pytest.mark.parametrize("width", [80, 100, 140])
async def test_the_footer_keeps_help_and_the_highest_ranked_hints(width):
    app = make_app(demo_provider())
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(pilot, app)
        await pilot.pause()
        footer = app.main_screen.query_one(Footer)
        keys = list(footer.query(FooterHint))
        assert "app.help" in _shown_ids(app)
        help_key = next(key for key in keys if BY_ID["app.help"].binding().action == key.action)
        assert help_key.region.right <= width and help_key.region.width > 0
        for key in keys:
            assert key.region.right <= width, key.description
        shown = _shown_ids(app)
        footer_ranks = sorted(action.footer_rank for action in BY_ID.values() if action.show and action.key)
        assert sorted(BY_ID[i].footer_rank for i in shown) == footer_ranks[: len(shown)]
        if width < 136:
            assert len(shown) < len(footer_ranks)


async def test_clicking_a_hint_presses_its_key():
    from vmtui.ui.screens.help import HelpScreen

    app = make_app(demo_provider())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.pause()
        footer = app.main_screen.query_one(Footer)
        [help_hint] = [
            hint for hint in footer.query(FooterHint) if hint.action == BY_ID["app.help"].binding().action
        ]
        await pilot.click(help_hint)
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
