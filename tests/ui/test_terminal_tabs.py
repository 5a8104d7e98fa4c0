"""TerminalTabs: sessions as tabs, remote titles, ended sessions with reason and reconnect."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Container
from textual.widgets import TabbedContent

from tests.ui.helpers import wait_until
from tests.ui.terminal_helpers import MemoryTransport, screen_lines, settle
from vmtui.terminal.transport import TerminalSink
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.terminal_tabs import TerminalSession, TerminalTabs


class TabsApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.transports: dict[str, list[MemoryTransport]] = {}

    def compose(self) -> ComposeResult:
        yield Container(id="terminal-area")

    async def on_mount(self) -> None:
        await self.query_one("#terminal-area").mount(TerminalTabs())

    def factory(self, name: str):
        async def open_transport(sink: TerminalSink, cols: int, rows: int) -> MemoryTransport:
            transport = MemoryTransport(sink, cols, rows)
            self.transports.setdefault(name, []).append(transport)
            return transport

        return open_transport

    @property
    def tabs(self) -> TerminalTabs:
        return self.query_one(TerminalTabs)


def tab_labels(app: TabsApp) -> list[str]:
    tabbed = app.query_one(TabbedContent)
    return [str(tabbed.get_tab(pane.id).label) for pane in tabbed.query("TabPane")]


async def test_sessions_open_as_tabs_with_their_own_transport() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = await app.tabs.open_session("vm-one", app.factory("one"))
        await pilot.pause()
        second = await app.tabs.open_session("vm-two", app.factory("two"))
        await pilot.pause()
        assert tab_labels(app) == ["vm-one", "vm-two"]
        assert app.focused is second
        cols, rows = app.transports["two"][0].opened_size
        assert (cols, rows) == (second.size.width, second.size.height) and cols == 80 and rows > 10
        await pilot.press("a")
        assert app.transports["two"][0].take() == b"a" and app.transports["one"][0].take() == b""
        app.transports["one"][0].sink.feed(b"output of one")
        await settle(pilot, first)
        assert first.emulator.screen_text()[0] == "output of one"  # parsed while its tab is hidden


async def test_remote_title_shows_in_the_tab() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.tabs.open_session("vm-one", app.factory("one"))
        await pilot.pause()
        app.transports["one"][0].sink.feed(b"\x1b]0;root@vm: /srv\x07")
        await settle(pilot)
        assert tab_labels(app) == ["vm-one: root@vm: /srv"]


async def test_ended_session_shows_why_and_reconnects() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        pane = await app.tabs.open_session("vm-one", app.factory("one"))
        await pilot.pause()
        first = app.transports["one"][0]
        first.sink.feed(b"$ exit\r\n")
        first.sink.closed("shell exited with status 0")
        await settle(pilot)
        session = app.query_one(TerminalSession)
        assert session.ended
        assert "Session ended: shell exited with status 0" in str(session.query_one(".ended-reason").render())
        assert tab_labels(app) == ["vm-one (ended)"]
        await pilot.click(".reconnect")
        await wait_until(pilot, lambda: len(app.transports["one"]) == 2)
        assert not session.ended
        assert app.transports["one"][1].opened_size == (pane.size.width, pane.size.height)
        assert screen_lines(pane)[0] == "$ exit"  # the old screen stays, as in any terminal
        await pilot.press("l")
        assert app.transports["one"][1].take() == b"l"


async def test_leave_chord_then_close_the_active_session() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.tabs.open_session("vm-one", app.factory("one"))
        await app.tabs.open_session("vm-two", app.factory("two"))
        await pilot.pause()
        await pilot.press("x")  # typed into the terminal
        assert app.transports["two"][0].take() == b"x"
        await pilot.press("ctrl+right_square_bracket")
        assert not isinstance(app.focused, TerminalPane)
        await pilot.press("x")  # now the tabs' close binding
        await wait_until(pilot, lambda: tab_labels(app) == ["vm-one"])
        assert app.transports["two"][0].closed
        assert app.tabs.focus_active()
        await pilot.pause()
        assert isinstance(app.focused, TerminalPane)
        await pilot.press("y")
        assert app.transports["one"][0].take() == b"y"


async def test_focus_active_without_sessions() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.tabs.focus_active() is False
        assert app.tabs.sessions == []
