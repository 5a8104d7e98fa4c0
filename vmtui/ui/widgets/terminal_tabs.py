"""`TerminalTabs`: several terminal sessions as tabs; an ended session says why and offers reconnect.

    tabs = TerminalTabs(id="terminals")
    await container.mount(tabs)
    pane = await tabs.open_session("vm-1234", ssh_transport_factory(make_session))

Keys typed into a focused terminal all go to the remote program but the ctrl+] prefix: ctrl+] then n/p/1-9
switch tabs, x closes, X closes the ended ones, r reconnects, Esc leaves (`terminal_keys`). On the tab bar
left/right switch sessions, ``r`` reconnects and ``x`` closes the session of the active tab.
"""

from __future__ import annotations

from collections.abc import Collection
from itertools import count
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Static, TabbedContent, TabPane

from vmtui.terminal.transport import TransportFactory
from vmtui.ui.widgets.terminal_pane import TerminalPane

_MAX_TITLE = 40


class TerminalSession(Vertical):
    """One tab's content: the terminal, and once its session ended, a banner with the reason."""

    DEFAULT_CSS = """
    TerminalSession { height: 1fr; }
    TerminalSession > .ended-banner { display: none; height: auto; background: $warning-muted; padding: 0 1; }
    TerminalSession.-ended > .ended-banner { display: block; }
    TerminalSession .ended-reason { width: 1fr; padding: 1 1 0 0; }
    TerminalSession .ended-banner Button { margin-left: 1; min-width: 12; }
    """

    def __init__(
        self,
        title: str,
        factory: TransportFactory,
        *,
        scrollback: int,
        emulator: str | None,
        id: str,
        owner: object = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.owner = owner
        """What the session is for (the VM's key), so a second `s` on the VM finds this tab."""
        self.owner_gone = False
        """The VM is no longer listed (deleted): an ended session says so instead of a raw exit status."""
        self.factory = factory
        self.remote_title = ""
        self.reason = ""
        self._scrollback = scrollback
        self._emulator = emulator

    def compose(self) -> ComposeResult:
        with Horizontal(classes="ended-banner"):
            yield Static(classes="ended-reason")
            yield Button("Reconnect", classes="reconnect", variant="primary")
            yield Button("Close", classes="close")
        yield TerminalPane(scrollback=self._scrollback, emulator=self._emulator)

    def on_mount(self) -> None:
        self.pane.connect(self.factory)

    @property
    def pane(self) -> TerminalPane:
        return self.query_one(TerminalPane)

    @property
    def ended(self) -> bool:
        return self.has_class("-ended")

    @on(TerminalPane.Closed)
    def show_ended(self, event: TerminalPane.Closed) -> None:
        self.add_class("-ended")
        self.reason = event.reason
        self._show_reason()

    def _show_reason(self) -> None:
        reason = "the VM was deleted" if self.owner_gone else self.reason
        self.query_one(".ended-reason", Static).update(f"Session ended: {reason}")

    def mark_owner_gone(self) -> None:
        if not self.owner_gone:
            self.owner_gone = True
            if self.ended:
                self._show_reason()

    def reconnect(self) -> None:
        """Open a new session in the same pane (its screen and scrollback stay)."""
        self.remove_class("-ended")
        self.pane.connect(self.factory)
        self.pane.focus()


class TerminalTabs(Widget):
    """Terminal sessions as tabs, for the app's terminal area."""

    DEFAULT_CSS = """
    TerminalTabs { height: 1fr; width: 1fr; }
    TerminalTabs > TabbedContent { height: 1fr; }
    TerminalTabs TabPane { padding: 0; height: 1fr; }
    TerminalTabs ContentSwitcher { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reconnect", "Reconnect", id="terminal.reconnect"),
        Binding("x", "close_session", "Close session", id="terminal.close"),
    ]

    def __init__(
        self,
        *,
        scrollback: int = 5000,
        emulator: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.scrollback = scrollback
        self.emulator = emulator
        self._ids = count(1)

    class TabClosed(Message):
        """A tab was closed; `owner` is what it was opened for (the VM's key)."""

        def __init__(self, owner: object) -> None:
            super().__init__()
            self.owner = owner

    def compose(self) -> ComposeResult:
        yield TabbedContent()

    @property
    def _tabbed(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def sessions(self) -> list[TerminalSession]:
        return list(self.query(TerminalSession))

    @property
    def active_session(self) -> TerminalSession | None:
        active = self._tabbed.active_pane
        return active.query_one(TerminalSession) if active is not None else None

    async def open_session(self, title: str, factory: TransportFactory, owner: object = None) -> TerminalPane:
        """Add a tab running a new session from `factory` (called with the pane's real size); focus it.
        A title already in use gets a number: `web (2)`."""
        number = next(self._ids)
        taken = {session.title for session in self.sessions}
        unique, copy = title, 1
        while unique in taken:
            copy += 1
            unique = f"{title} ({copy})"
        session = TerminalSession(
            unique,
            factory,
            scrollback=self.scrollback,
            emulator=self.emulator,
            id=f"terminal-session-{number}",
            owner=owner,
        )
        tab_id = f"terminal-tab-{number}"
        await self._tabbed.add_pane(TabPane(unique, session, id=tab_id))
        self._tabbed.active = tab_id
        session.pane.focus()
        return session.pane

    def keep_owners(self, listed: Collection[object]) -> None:
        """Sessions whose VM is not in `listed` any more say so when (or once) they end."""
        for session in self.sessions:
            if session.owner is not None and session.owner not in listed:
                session.mark_owner_gone()

    def session_of(self, owner: object) -> TerminalSession | None:
        """The first session opened for `owner` (a VM's key), if any."""
        return next((session for session in self.sessions if session.owner == owner), None)

    def activate(self, session: TerminalSession) -> None:
        tab = session.parent
        if isinstance(tab, TabPane) and tab.id is not None:
            self._tabbed.active = tab.id
        session.pane.focus()

    def step(self, delta: int) -> None:
        """Activate the next (1) or previous (-1) tab, wrapping, and focus its terminal."""
        sessions = self.sessions
        active = self.active_session
        if not sessions or active is None:
            return
        self.activate(sessions[(sessions.index(active) + delta) % len(sessions)])

    def goto(self, index: int) -> None:
        sessions = self.sessions
        if 0 <= index < len(sessions):
            self.activate(sessions[index])
        else:
            self.notify(f"No tab {index + 1} ({len(sessions)} open)", severity="warning", timeout=2)

    async def close_ended(self) -> int:
        """Close every tab whose session ended; how many."""
        ended = [session for session in self.sessions if session.ended]
        for session in ended:
            await self.close_session(session)
        self.focus_active()
        return len(ended)

    @on(TerminalPane.TabCommand)
    async def _tab_command(self, event: TerminalPane.TabCommand) -> None:
        event.stop()
        await self.run_command(event.command, event.index)

    async def run_command(self, command: str, index: int = 0) -> None:
        """A tab command (`terminal_keys.PREFIX_COMMANDS`, or "goto" tab `index`)."""
        if command == "next":
            self.step(1)
        elif command == "previous":
            self.step(-1)
        elif command == "goto":
            self.goto(index)
        elif command == "close":
            await self.action_close_session()
            self.focus_active()
        elif command == "close_ended":
            closed = await self.close_ended()
            self.notify(f"Closed {closed} ended tab{'s' if closed != 1 else ''}", timeout=2)
        elif command == "reconnect":
            self.action_reconnect()

    def focus_active(self) -> bool:
        """Focus the terminal of the active tab; False when there is no session."""
        session = self.active_session
        if session is None:
            return False
        session.pane.focus()
        return True

    async def close_session(self, session: TerminalSession) -> None:
        """End the session (if still running) and remove its tab."""
        session.pane.close()
        tab = session.parent
        if isinstance(tab, TabPane) and tab.id is not None:
            await self._tabbed.remove_pane(tab.id)
        self.post_message(self.TabClosed(session.owner))

    def action_reconnect(self) -> None:
        session = self.active_session
        if session is not None and session.ended:
            self.reconnect(session)

    def reconnect(self, session: TerminalSession) -> None:
        session.reconnect()
        self._relabel(session)

    @on(Button.Pressed, ".reconnect")
    def _reconnect_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.reconnect(event.button.query_ancestor(TerminalSession))

    async def action_close_session(self) -> None:
        session = self.active_session
        if session is not None:
            await self.close_session(session)

    @on(Button.Pressed, ".close")
    async def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        session = event.button.query_ancestor(TerminalSession)
        await self.close_session(session)

    @on(TerminalPane.TitleChanged)
    def _show_remote_title(self, event: TerminalPane.TitleChanged) -> None:
        session = event.pane.query_ancestor(TerminalSession)
        session.remote_title = event.title
        self._relabel(session)

    @on(TerminalPane.Closed)
    def _mark_ended(self, event: TerminalPane.Closed) -> None:
        self._relabel(event.pane.query_ancestor(TerminalSession))

    def _relabel(self, session: TerminalSession) -> None:
        tab = session.parent
        if not isinstance(tab, TabPane) or tab.id is None:
            return
        label = session.title
        if session.remote_title:
            label += f": {session.remote_title}"
        if len(label) > _MAX_TITLE:
            label = label[: _MAX_TITLE - 1] + "…"
        if session.ended:
            label += " (ended)"
        self._tabbed.get_tab(tab.id).label = label
