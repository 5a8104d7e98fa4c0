"""Bug 2 on the main screen: `s` finds the VM's open tab, another tab is asked for, the palette drives tabs."""

from __future__ import annotations

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.actions import BY_ID, palette_entries
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.terminal_tabs import TerminalTabs

SIZE = (140, 40)


async def test_s_focuses_the_open_tab_and_another_terminal_gets_a_distinct_label():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.main_screen
        screen.table.select(("local", "vm-8c1d77e4"))
        name = screen.table.selected_vm.display_name
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+right_square_bracket", "escape", "1", "s")
        await pilot.pause()
        tabs = screen.query_one(TerminalTabs)
        assert [session.title for session in tabs.sessions] == [name]
        assert isinstance(app.focused, TerminalPane)
        await pilot.press("ctrl+right_square_bracket", "escape", "1")
        await screen.action_run("vm.ssh_another")
        await pilot.pause()
        assert [session.title for session in tabs.sessions] == [name, f"{name} (2)"]
        await screen.action_run("terminal.previous")
        assert tabs.active_session.title == name
        await screen.action_run("terminal.close")
        await pilot.pause()
        assert [session.title for session in tabs.sessions] == [f"{name} (2)"]


def test_the_palette_offers_every_tab_command():
    titles = {action.palette for action in palette_entries()}
    for command in ("next tab", "previous tab", "close every ended tab", "reconnect an ended session"):
        assert f"terminal: {command}" in titles
    assert BY_ID["vm.ssh_another"].palette == "vm: open another terminal"


async def test_help_lists_the_terminal_keys():
    from tests.ui.helpers import text_of

    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        shown = text_of(app.screen.query_one("#help-terminal"))
        for expected in (
            "ctrl+] n",
            "ctrl+] 1-9",
            "ctrl+] x",
            "ctrl+] r",
            "shift+pgup",
            "search the scrollback",
        ):
            assert expected in shown
