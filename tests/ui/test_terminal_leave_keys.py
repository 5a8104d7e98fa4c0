"""Keys typed right after leaving the terminal (ctrl+]) go to the panes or the dialog they open, never
into the VM: the user typed them for the TUI, not for the program in the terminal.

The keys are posted to the app all at once, as a fast typist or a loaded machine delivers them (the
driver reads several keys before the app handles the first); Pilot.press would wait between keys."""

from __future__ import annotations

from textual import events

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, wait_until
from tests.ui.terminal_helpers import MemoryTransport
from vmtui.ui.screens.commit import CommitScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.terminal_tabs import TerminalTabs

SIZE = (140, 40)
PREFIX = "ctrl+right_square_bracket"


def typed(app, *keys: str) -> None:
    """Deliver `keys` to the app in one burst."""
    for key in keys:
        character = key if len(key) == 1 else None
        app.post_message(events.Key(key, character))


async def open_memory_terminal(pilot, app) -> MemoryTransport:
    """A terminal tab on a transport that records what is typed into the 'VM'; the tab has focus."""
    transports: list[MemoryTransport] = []

    async def factory(sink, cols, rows):
        transports.append(MemoryTransport(sink, cols, rows))
        return transports[-1]

    await pilot.press("s")  # the demo VM has no SSH: that first session ends at once
    await pilot.pause()
    await app.main_screen.query_one(TerminalTabs).open_session("vm", factory)
    await wait_until(pilot, lambda: transports and isinstance(app.focused, TerminalPane), "the terminal")
    await pilot.press(*"ls")
    await wait_until(pilot, lambda: transports[0].written == b"ls", "typing to reach the terminal")
    transports[0].take()
    return transports[0]


async def test_keys_after_leaving_go_to_the_dialog_they_open_not_to_the_vm():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        transport = await open_memory_terminal(pilot, app)
        typed(app, PREFIX, "escape", "D", *"tab")  # leave, delete the selected VM, type into the dialog
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), "the delete dialog")
        await pilot.pause()
        assert transport.written == b""
        assert not isinstance(app.focused, TerminalPane)


async def test_the_key_after_the_prefix_leaves_and_acts_on_the_panes_and_the_rest_follows_it():
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        transport = await open_memory_terminal(pilot, app)
        typed(app, PREFIX, "c", *"web")  # ctrl+] then a pane key: leave, open the commit dialog, type a name
        await wait_until(pilot, lambda: isinstance(app.screen, CommitScreen), "the commit dialog")
        await wait_until(pilot, lambda: getattr(app.focused, "value", None) == "web", "the typed name")
        assert transport.written == b""


async def test_keys_typed_before_the_prefix_still_reach_the_vm():
    """The prefix takes effect in order: keys ahead of it in the same burst are the program's."""
    app = make_app(demo_provider())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        transport = await open_memory_terminal(pilot, app)
        typed(app, *"ab", PREFIX, "c", *"web")
        await wait_until(pilot, lambda: isinstance(app.screen, CommitScreen), "the commit dialog")
        await wait_until(pilot, lambda: getattr(app.focused, "value", None) == "web", "the typed name")
        assert transport.written == b"ab"
