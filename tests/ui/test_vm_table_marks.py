"""Issue 15: sort keys with ▲/▼ on the header, marks (Space, all, none, invert) that survive snapshots,
and bulk actions over the marks with one confirmation (demo provider; the real engine in
test_bulk_local_engine.py)."""

from __future__ import annotations

from textual.widgets import Button

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, poll_now, settle, text_of, wait_actions, wait_until
from vmtui.core.errors import Conflict
from vmtui.core.models import VmState
from vmtui.ui.screens.confirm_bulk import ConfirmBulkScreen
from vmtui.ui.widgets.status_bar import StatusBar

SIZE = (120, 36)
NEWEST_FIRST = ["vm-d4e6f801", "vm-a90b2f6d", "vm-8c1d77e4", "vm-3f2a91c0", "vm-17c0ffee"]


def row_ids(app) -> list[str]:
    table = app.main_screen.table
    return [table.vms[key].id for key in table.row_keys()]


def marked_ids(app) -> set[str]:
    return {vm_id for _, vm_id in app.main_screen.table.marked}


def header(app) -> str:
    return app.main_screen.table.render_line(0).text


async def test_shift_letter_sorts_by_its_column_and_again_reverses_with_the_arrow_on_the_header():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert "Age ▲" in header(app)
        await pilot.press("N")
        assert app.main_screen.table.sort_column == "name"
        assert row_ids(app) == ["vm-3f2a91c0", "vm-8c1d77e4", "vm-a90b2f6d", "vm-d4e6f801", "vm-17c0ffee"]
        assert "Name / id ▲" in header(app) and "Age ▲" not in header(app)
        await pilot.press("N")
        assert row_ids(app)[0] == "vm-17c0ffee" and "Name / id ▼" in header(app)
        await pilot.press("T")  # state
        states = [app.main_screen.table.vms[key].state.value for key in app.main_screen.table.row_keys()]
        assert states == sorted(states) and "State ▲" in header(app)


async def test_the_sort_arrow_is_ascii_under_ascii():
    app = make_app(demo_provider(), ascii=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("A")  # age again: reversed
        assert "Age v" in header(app) and row_ids(app) == NEWEST_FIRST[::-1]
        assert header(app).isascii()


async def test_space_all_none_invert_and_the_count_in_the_status_bar():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("space", "space", "space")  # marks a row and moves down, as in k9s
        assert marked_ids(app) == set(NEWEST_FIRST[:3])
        assert "3 selected" in text_of(app.main_screen.query_one(StatusBar))
        assert "●" in app.main_screen.table.render_line(1).text  # the mark is drawn on the row
        await pilot.press("up", "space")  # unmark the third
        assert marked_ids(app) == set(NEWEST_FIRST[:2])
        await pilot.press("asterisk")
        assert marked_ids(app) == set(NEWEST_FIRST[2:])
        await pilot.press("ctrl+a")
        assert marked_ids(app) == set(NEWEST_FIRST)
        await pilot.press("ctrl+backslash")
        assert marked_ids(app) == set()
        assert "selected" not in text_of(app.main_screen.query_one(StatusBar))


async def test_select_all_marks_only_the_filtered_rows():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("slash", *"state:running", "enter")
        await pilot.pause()
        shown = set(row_ids(app))
        assert shown and len(shown) < len(NEWEST_FIRST)
        await pilot.press("ctrl+a")
        assert marked_ids(app) == shown


async def test_marks_survive_a_snapshot_and_gone_vms_drop_out():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+a")
        del provider.vms["vm-8c1d77e4"]
        provider.vms["vm-3f2a91c0"] = provider.vms["vm-3f2a91c0"].model_copy(update={"state": VmState.PAUSED})
        await poll_now(pilot, app)
        assert marked_ids(app) == set(NEWEST_FIRST) - {"vm-8c1d77e4"}
        assert "4 selected" in text_of(app.main_screen.query_one(StatusBar))


async def test_bulk_pause_confirms_once_names_the_skipped_vm_and_reports_once():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+a", "p")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmBulkScreen)
        live = {vm.id for vm in dialog.targets}
        assert live == set(NEWEST_FIRST) - {"vm-17c0ffee"}  # the paused one is resumed
        assert {vm.id: reason for vm, reason in dialog.skipped} == {"vm-17c0ffee": "VM is dead"}
        body = text_of(dialog.query_one("#confirm-body"))
        assert all(vm_id in body for vm_id in NEWEST_FIRST) and "VM is dead" in body
        assert app.focused is dialog.query_one("#confirm", Button)  # harmless: Enter confirms
        await pilot.press("enter")
        await wait_actions(pilot, app)
        paused = {args[0] for method, args in provider.calls if method == "pause_vm"}
        resumed = {args[0] for method, args in provider.calls if method == "resume_vm"}
        assert paused == live - {"vm-a90b2f6d"} and resumed == {"vm-a90b2f6d"}
        bulk_notes = [note for note in app.notes if note[0].startswith("Pause/resume")]
        assert bulk_notes == [("Pause/resume", "4 of 4 done", "information")]


async def test_bulk_delete_keeps_cancel_focused_and_names_each_failure():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("space", "space", "space", "D")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmBulkScreen)
        assert app.focused is dialog.query_one("#cancel", Button)
        await pilot.press("y")  # does nothing on a destructive question
        assert app.screen is dialog
        provider.fail["delete_vm"] = Conflict("VM is busy")  # the first delete fails, the others go
        await pilot.press("tab", "enter")
        await wait_actions(pilot, app)
        (note,) = [note for note in app.notes if note[0].startswith("Delete")]
        title, message, severity = note
        assert title == "Delete: 1 failed" and severity == "error"
        assert message.startswith("2 of 3 done\n") and "VM is busy" in message
        assert len([vm_id for vm_id in NEWEST_FIRST[:3] if vm_id in provider.vms]) == 1


async def test_bulk_actions_are_refused_in_read_only_mode():
    app = make_app(demo_provider(), read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+a", "D")
        await pilot.pause()
        assert app.screen is app.main_screen
        assert ("Not available", "no marked VM can: read-only mode", "warning") in app.notes


async def test_bulk_delete_skips_desktops_and_bulk_stop_warns_about_their_config():
    from tests.ui.swiftor_fake import FakeSwiftor

    fake = FakeSwiftor()
    fake.add_vm("desk", enabled=True)
    app = make_app(fake.provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+a", "D")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmBulkScreen) and dialog.targets == []
        assert [reason for _, reason in dialog.skipped] == [
            "a desktop is deleted on its own (D asks for its label)"
        ]
        await pilot.press("tab", "enter")  # confirming nothing deletes nothing
        await wait_actions(pilot, app)
        assert not any(path.startswith("/vms/delete") for _, path in fake.writes)
        await pilot.press("P")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmBulkScreen) and app.screen.targets
        assert "loses its ephemeral /config" in text_of(app.screen.query_one("#confirm-body"))
        assert app.focused is app.screen.query_one("#cancel", Button)


async def test_a_click_moves_the_cursor_and_a_click_on_the_cursor_row_describes_it():
    from vmtui.ui.screens.describe import DescribeScreen

    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.click("#vm-table", offset=(10, 3))  # the third row (the header is line 0)
        await pilot.pause()
        assert app.main_screen.table.selected_vm.id == NEWEST_FIRST[2]
        assert app.screen is app.main_screen
        await pilot.click("#vm-table", offset=(10, 3))
        await wait_until(pilot, lambda: isinstance(app.screen, DescribeScreen), "the describe view")
