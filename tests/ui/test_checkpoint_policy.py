"""What the delete and stop questions say about checkpoints, per provider and `checkpoint` policy;
what read-only mode refuses of the history actions."""

from __future__ import annotations

import pytest

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, text_of
from tests.ui.swiftor_fake import FakeSwiftor
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen

SIZE = (120, 36)


@pytest.mark.parametrize(("policy", "said"), [("ask", True), ("always", True), ("never", False)])
async def test_stopping_a_swiftor_desktop_says_no_checkpoint_is_possible(policy, said):
    fake = FakeSwiftor()
    fake.add_vm("desk", enabled=True)
    app = make_app(fake.provider(), checkpoint=policy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("P")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        body = text_of(app.screen.query_one("#confirm-body"))
        assert ("Swiftor cannot commit, so no checkpoint is taken" in body) is said
        await pilot.press("escape")


@pytest.mark.parametrize(("policy", "box", "said"), [("ask", True, False), ("always", False, True)])
async def test_the_delete_question_offers_or_announces_the_checkpoint(policy, box, said):
    app = make_app(demo_provider(), checkpoint=policy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.main_screen.table.move_cursor(row=3)  # build-base, running, on a provider that commits
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteScreen)
        assert bool(app.screen.query("#checkpoint-first")) is box
        assert (
            "A checkpoint commit is taken first" in text_of(app.screen.query_one("#confirm-body"))
        ) is said
        assert app.screen.take_checkpoint is True
        await pilot.press("escape")


async def test_read_only_mode_refuses_scratch_vms_and_undo():
    app = make_app(demo_provider(), read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.main_screen.unavailable("vm.scratch") == "read-only mode"
        assert app.main_screen.unavailable("vm.undo") == "read-only mode"
        assert app.main_screen.unavailable("vm.diff") is None  # reading only, where no VM is needed
