"""The TUI against a Vers server that speaks only the seed's contract and one that speaks only today's:
the list shows both states, `p` pauses with the server's own word and resumes a paused or sleeping VM,
and `s` on a sleeping VM offers to resume it first."""

from __future__ import annotations

import pytest

from tests.contract.fakes import SeedVers, TodayVers
from tests.contract.test_vers_dialects import provider_for
from tests.ui.helpers import make_app, poll_now, settle, wait_actions
from tests.ui.test_swiftor_screens import screen_text
from vmtui.ui.screens.confirm import ConfirmScreen

SIZE = (160, 48)


@pytest.mark.parametrize("server_class", [SeedVers, TodayVers], ids=["seed", "today"])
async def test_p_pauses_and_resumes_on_either_contract(server_class):
    server = server_class()
    running = server.add_vm(name="web")
    frozen = server.add_vm(server.PAUSED_STATE, name="db")
    app = make_app(provider_for(server))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        table = app.main_screen.table
        assert server.PAUSED_STATE in table.cells(("vers", frozen))[2].plain

        table.select(("vers", frozen))
        await pilot.press("p")
        await wait_actions(pilot, app)
        assert server.vms[frozen].state == "running"
        assert ("Resume", f"Resumed {frozen}", "information") in app.notes

        table.select(("vers", running))
        await pilot.press("p")
        await wait_actions(pilot, app)
        assert server.vms[running].state == server.PAUSED_STATE
        patches = [body for method, _, body in server.requests if method == "PATCH"]
        assert patches[-1] == {"state": server.PAUSE_WORD}
        await poll_now(pilot, app)
        assert server.PAUSED_STATE in table.cells(("vers", running))[2].plain
        assert "running" in table.cells(("vers", frozen))[2].plain


async def test_s_on_a_sleeping_vm_offers_to_resume_it():
    server = TodayVers()
    frozen = server.add_vm("sleeping", name="db")
    app = make_app(provider_for(server))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.main_screen.table.select(("vers", frozen))
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert f"{frozen} · sleeping" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert server.vms[frozen].state == "sleeping"
