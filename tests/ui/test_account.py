"""`W` shows who the profile's key belongs to, and the server's version and health, on the REAL local
engine; the key itself never appears."""

from __future__ import annotations

import pytest

from tests.ui.helpers import settle, wait_actions
from tests.ui.test_local_engine_actions import SIZE, engine_settings, make_app, open_engine  # noqa: F401

pytestmark = pytest.mark.root


async def test_w_shows_the_account_server_and_health_without_the_key(engine_settings):  # noqa: F811
    engine = await open_engine(engine_settings)
    try:
        app = make_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("W")
            await wait_actions(pilot, app)
            (note,) = [message for title, message, _ in app.notes if title.startswith("Account of")]
        lines = dict(line.split(": ", 1) for line in note.splitlines())
        assert (
            lines["profile"] == "local" and lines["user"].endswith("@localhost") and lines["org"] == "local"
        )
        assert lines["server"].startswith("vmtui-serve") and lines["health"] == "ok"
        token = engine.http._token.get_secret_value()
        assert len(token) > 8 and token not in note
    finally:
        await engine.aclose()
