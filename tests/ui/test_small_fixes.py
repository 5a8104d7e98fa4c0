"""Issue 15's smaller items: zooming Details (bug 10), q inside help (bug 12), the visible filter."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, wait_until
from vmtui.ui.actions import BY_ID
from vmtui.ui.screens.help import HelpScreen

SIZE = (140, 40)


async def test_3_then_z_zooms_the_details():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("3", "z")
        assert app.main_screen.maximized is app.main_screen.query_one("#details")
        await pilot.press("z")
        assert app.main_screen.maximized is None


async def test_q_inside_help_quits_as_the_help_says():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_the_active_filter_shows_on_the_list_with_its_count():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        pane = app.main_screen.query_one("#list-pane")
        assert not pane.border_subtitle
        await pilot.press("slash", *"state:running", "enter")
        await pilot.pause()
        shown = app.main_screen.table.row_count
        assert pane.border_subtitle == f"filter: state:running ({shown} of 5; Esc clears)"
        await pilot.press("escape")
        await pilot.pause()
        assert not pane.border_subtitle


def test_filter_help_states_the_grammar():
    assert "substring" in BY_ID["list.filter"].help and "~text fuzzy" in BY_ID["list.filter"].help
    assert "re:regex" in BY_ID["list.filter"].help


async def test_create_form_says_what_range_is_allowed():
    from tests.ui.helpers import text_of
    from vmtui.ui.screens.create_vm import CreateVmScreen

    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, CreateVmScreen)
        form.query_one("#vcpu").value = "999999"
        form.query_one("#memory").value = "-512"
        await pilot.pause()
        await pilot.click("#ok")
        await pilot.pause()
        assert text_of(form.query_one("#vcpu-error")).strip() == "must be between 1 and 64 vCPUs"
        assert text_of(form.query_one("#memory-error")).strip() == "must be between 64 and 1,048,576 MiB"
        assert not [c for c in provider.calls if c[0] == "create_vm"]


async def test_a_destructive_confirmation_ignores_y_and_keeps_cancel_focused():
    from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen

    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteScreen) and app.focused.id == "cancel"
        await pilot.press("y", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDeleteScreen)
        assert not [c for c in provider.calls if c[0] == "delete_vm"]


async def memory_transport(sink, cols, rows):
    from tests.ui.terminal_helpers import MemoryTransport

    return MemoryTransport(sink, cols, rows)


async def test_q_with_open_shells_asks_first():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        screen.table.select(("local", "vm-8c1d77e4"))
        await pilot.press("s")  # the demo VM has no SSH: this session ends at once, and does not count
        await pilot.pause()
        tabs = screen.terminal.tabs
        for name in ("one", "two"):
            await tabs.open_session(name, memory_transport)
            await pilot.pause()
        await pilot.press("ctrl+right_square_bracket", "escape", "q")
        await pilot.pause()
        assert app.is_running
        assert any("2 shells open: press q again" in message for _, message, _ in app.notes)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_read_only_shows_a_badge_and_ascii_status_is_ascii():
    from tests.ui.helpers import text_of
    from vmtui.ui.widgets.status_bar import StatusBar

    app = make_app(demo_provider(), read_only=True, ascii=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("slash", *"web", "enter")
        await pilot.pause()
        shown = text_of(app.main_screen.query_one(StatusBar))
        assert shown.startswith(" READ-ONLY ")
        assert "filter: web" in shown and shown.isascii()


async def test_a_keymap_that_steals_a_key_or_names_an_unknown_id_is_warned_about():
    app = make_app(demo_provider(), keymap={"vm.pause": "P", "vm.nonsense": "k"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        warnings = [message for title, message, _ in app.notes if title == "Config"]
        assert "keymap: 'vm.pause = P' takes P from vm.power, which loses its key" in warnings
        assert "keymap: no action has the id 'vm.nonsense'" in warnings


async def test_a_clean_keymap_gives_no_warning():
    app = make_app(demo_provider(), keymap={"vm.pause": "P", "vm.power": "ctrl+o", "list.sort": "f3"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert not [message for title, message, _ in app.notes if title == "Config"]


async def test_stopping_a_running_swiftor_desktop_asks_first():
    from tests.ui.swiftor_fake import FakeSwiftor
    from vmtui.ui.screens.confirm import ConfirmScreen

    fake = FakeSwiftor()
    fake.add_vm("desk", enabled=True)
    app = make_app(fake.provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("P")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.focused.id == "cancel"
        assert "/config" in str(app.screen.body)
        await pilot.press("enter")  # Cancel keeps it running
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert not [path for _, path in fake.writes if "stop" in path]


@pytest.mark.parametrize("keys", [("L",), ("d", "enter")])  # the action log; a diff, once confirmed
async def test_a_full_screens_footer_names_the_palette_key_once(keys):
    app = make_app(demo_provider())
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot, app)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await wait_until(pilot, lambda: app.screen.query("Footer FooterKey"))
        await pilot.pause()
        palette_keys = [hint for hint in app.screen.query(FooterKey) if hint.key == "ctrl+p"]
        assert len(palette_keys) == 1, type(app.screen).__name__
