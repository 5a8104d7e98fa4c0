"""The status bar says `live · push` while a profile's data arrives by push, its age otherwise."""

from __future__ import annotations

from dataclasses import replace

from tests.ui.demo_provider import DEMO_NOW, demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.widgets.status_bar import StatusBar


async def test_the_status_bar_shows_push_while_the_stream_is_up():
    app = make_app(demo_provider(), now=lambda: DEMO_NOW.timestamp())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        bar = app.main_screen.query_one(StatusBar)
        [(profile, polled)] = bar.results.items()
        assert "live · push" not in bar.render_status().plain
        bar.refresh_status(
            connecting={}, results={profile: replace(polled, pushed=True)}, pending={}, filter_text=""
        )
        assert "live · push" in bar.render_status().plain
        bar.refresh_status(connecting={}, results={profile: polled}, pending={}, filter_text="")
        assert "live · push" not in bar.render_status().plain
        assert " ago" in bar.render_status().plain
