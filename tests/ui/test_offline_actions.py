"""While a profile is offline the actions that need its platform are greyed, and say so."""

from __future__ import annotations

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, poll_now, settle
from vmtui.core.errors import Unavailable

SIZE = (120, 36)
PLATFORM_ACTIONS = {"n": "vm.new", "b": "vm.branch", "D": "vm.delete", "s": "vm.ssh"}


async def test_offline_greys_platform_actions_and_online_restores_them():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        await pilot.press("down")  # a running VM: every action above is possible
        assert all(screen.unavailable(action) is None for action in PLATFORM_ACTIONS.values())

        provider.fail["list_vms"] = Unavailable("cannot reach the engine: connection refused")
        await poll_now(pilot, app)
        for key, action in PLATFORM_ACTIONS.items():
            assert screen.unavailable(action) == "profile 'local' is offline"
            assert not screen.active_bindings[key].enabled  # greyed in the footer
        assert screen.unavailable("app.help") is None and screen.unavailable("vm.yank") is None
        calls = len(provider.calls)
        await pilot.press("D")
        await pilot.pause()
        assert app.screen is screen  # no dialog
        assert app.notes[-1] == ("Not available", "profile 'local' is offline", "warning")
        assert len(provider.calls) == calls

        await poll_now(pilot, app)  # the platform answers again
        assert all(screen.unavailable(action) is None for action in PLATFORM_ACTIONS.values())
        assert all(screen.active_bindings[key].enabled for key in PLATFORM_ACTIONS)
