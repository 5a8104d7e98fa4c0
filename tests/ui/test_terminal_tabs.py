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

    async def open(self, pilot, label: str, name: str, **options) -> TerminalPane:
        """Open a session and wait until it has connected its transport (its connect runs in a worker)."""
        connected = len(self.transports.get(name, []))
        pane = await self.tabs.open_session(label, self.factory(name), **options)
        await wait_until(pilot, lambda: len(self.transports.get(name, [])) > connected, f"{name} connected")
        return pane


def tab_labels(app: TabsApp) -> list[str]:
    tabbed = app.query_one(TabbedContent)
    return [str(tabbed.get_tab(pane.id).label) for pane in tabbed.query("TabPane")]


async def test_sessions_open_as_tabs_with_their_own_transport() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = await app.open(pilot, "vm-one", "one")
        await pilot.pause()
        second = await app.open(pilot, "vm-two", "two")
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
        await app.open(pilot, "vm-one", "one")
        await pilot.pause()
        app.transports["one"][0].sink.feed(b"\x1b]0;root@vm: /srv\x07")
        await settle(pilot)
        assert tab_labels(app) == ["vm-one: root@vm: /srv"]


async def test_ended_session_shows_why_and_reconnects() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        pane = await app.open(pilot, "vm-one", "one")
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
        await app.open(pilot, "vm-one", "one")
        await app.open(pilot, "vm-two", "two")
        await pilot.pause()
        await pilot.press("x")  # typed into the terminal
        assert app.transports["two"][0].take() == b"x"
        await pilot.press("ctrl+right_square_bracket", "escape")
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


async def test_prefix_keys_switch_close_and_leave_from_inside_the_terminal() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for name in ("one", "two", "three"):
            await app.open(pilot, f"vm-{name}", name)
        await pilot.pause()
        assert app.tabs.active_session.title == "vm-three"
        await pilot.press("ctrl+right_square_bracket", "p")  # previous tab, focus stays in a terminal
        assert app.tabs.active_session.title == "vm-two" and isinstance(app.focused, TerminalPane)
        await pilot.press("ctrl+right_square_bracket", "1")
        assert app.tabs.active_session.title == "vm-one"
        await pilot.press("ctrl+right_square_bracket", "n", "k")
        assert app.tabs.active_session.title == "vm-two"
        assert app.transports["two"][0].take() == b"k"  # after the command, keys go to the shell again
        assert app.transports["one"][0].take() == b""  # the prefixed keys reached no shell
        await pilot.press("ctrl+right_square_bracket", "x")
        await wait_for(pilot, lambda: len(app.tabs.sessions) == 2)
        assert tab_labels(app) == ["vm-one", "vm-three"] and app.transports["two"][0].closed
        assert isinstance(app.focused, TerminalPane)
        await pilot.press("ctrl+right_square_bracket", "ctrl+right_square_bracket")
        assert not isinstance(app.focused, TerminalPane)
        assert all(transport.take() == b"" for transport, *_ in app.transports.values())


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met")


async def test_ended_tabs_close_together_and_reconnect_by_prefix() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for name in ("one", "two", "three"):
            await app.open(pilot, f"vm-{name}", name)
            await wait_for(pilot, lambda name=name: name in app.transports)  # connected while shown
        app.transports["one"][0].sink.closed("shell exited with status 0")
        app.transports["three"][0].sink.closed("shell exited with status 0")
        await settle(pilot)
        await pilot.press("ctrl+right_square_bracket", "r")  # the active tab (three) reconnects
        await wait_for(pilot, lambda: len(app.transports["three"]) == 2)
        assert not app.tabs.active_session.ended
        await pilot.press("ctrl+right_square_bracket", "X")
        await wait_for(pilot, lambda: len(app.tabs.sessions) == 2)
        assert tab_labels(app) == ["vm-two", "vm-three"]


async def test_a_title_in_use_gets_a_number() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.open(pilot, "web", "one", owner="a")
        await app.open(pilot, "web", "two", owner="a")
        await pilot.pause()
        assert tab_labels(app) == ["web", "web (2)"]
        assert app.tabs.session_of("a").title == "web"


async def test_a_tab_whose_vm_was_deleted_says_so() -> None:
    app = TabsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.open(pilot, "web", "one", owner="a")
        await pilot.pause()
        await app.open(pilot, "db", "two", owner="b")
        await wait_for(pilot, lambda: "one" in app.transports and "two" in app.transports)
        app.transports["one"][0].sink.closed("shell exited with status -1")
        await settle(pilot)
        app.tabs.keep_owners({"b"})  # the poll lists only b: a was deleted
        await pilot.pause()
        web, db = app.tabs.sessions
        assert "Session ended: the VM was deleted" in str(web.query_one(".ended-reason").render())
        assert not db.ended and db.owner_gone is False
