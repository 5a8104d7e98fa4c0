"""The branch progress dialog: twenty VMs fit at 80x24, it closes itself when all are ready, and the
one notification that replaces it stays short."""

from __future__ import annotations

from textual.widgets import Input

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, text_of, wait_actions, wait_until
from vmtui.core.errors import Unavailable
from vmtui.core.models import VmState
from vmtui.ui.screens.progress import ProgressScreen


def hold_booting(provider) -> dict[str, bool]:
    """New VMs report `booting` while `gate['booting']` is True."""
    gate = {"booting": True}
    get_vm = provider.get_vm

    async def get_vm_held(vm_id):
        vm = await get_vm(vm_id)
        return vm.model_copy(update={"state": VmState.BOOTING}) if gate["booting"] else vm

    provider.get_vm = get_vm_held
    return gate


async def branch(pilot, count: int) -> ProgressScreen:
    await pilot.press("down", "down", "b")
    await pilot.pause()
    pilot.app.screen.query_one("#count", Input).value = str(count)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ProgressScreen)
    return pilot.app.screen


async def test_twenty_vms_fit_at_80x24_and_the_dialog_closes_into_one_short_notification():
    provider = demo_provider()
    gate = hold_booting(provider)
    app = make_app(provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        progress = await branch(pilot, 20)
        await wait_until(pilot, lambda: len(progress.states) == 20, "twenty VMs reported")
        await pilot.pause()
        dialog = progress.query_one("#dialog")
        assert progress.region.contains_region(dialog.region)
        assert "0/20 ready" in text_of(progress.query_one("#progress-summary"))
        hint = progress.query_one(".dialog-hint")
        assert hint.region.height > 0 and dialog.region.contains_region(hint.region)  # not pushed out
        scroll = progress.query_one("#progress-scroll")
        assert scroll.max_scroll_y > 0  # the lines scroll inside the dialog instead of overflowing it

        gate["booting"] = False
        await wait_actions(pilot, app)
        await wait_until(pilot, lambda: app.screen is app.main_screen, "the dialog to close itself")
        (note,) = [n for n in app.notes if n[0] == "Branch"]
        assert note[1].endswith("and 17 more") and note[1].count("vm-") <= 4  # source and three ids


async def test_a_failed_branch_keeps_the_dialog_open_with_the_reason():
    provider = demo_provider()
    provider.fail["branch"] = Unavailable("platform went away")
    app = make_app(provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        progress = await branch(pilot, 3)
        await wait_actions(pilot, app)
        assert app.screen is progress
        assert "failed" in text_of(progress.query_one("#progress-summary"))
        await pilot.press("escape")
        assert app.screen is app.main_screen
