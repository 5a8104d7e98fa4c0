"""The terminal pane's frame: a hint until the first SSH session, then the tabs of open sessions.

The tabs, the terminal emulator and SSH (asyncssh) are imported when the first session opens, not when
the app starts: they are most of the TUI's import time and the first screen needs none of them."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from vmtui.core.models import Vm
from vmtui.paths import state_dir
from vmtui.providers.base import Provider
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.ui.format import clean
from vmtui.ui.options import AppOptions

if TYPE_CHECKING:
    from vmtui.services.ssh import SshSession
    from vmtui.ui.widgets.terminal_tabs import TerminalTabs


class TerminalArea(Container):
    can_focus = True
    _tabs: TerminalTabs | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                "No terminal open. Press s on a running VM to open an SSH terminal here "
                "(ctrl+] then Esc leaves it); from a shell: vmtui ssh <vm-id>",
                style="dim italic",
            ),
            id="terminal-hint",
        )

    def focus_terminal(self) -> bool:
        """Put keyboard focus inside the active terminal (so typing reaches the shell); False if none."""
        return self._tabs is not None and self._tabs.focus_active()

    @property
    def tabs(self) -> TerminalTabs | None:
        return self._tabs

    def keep_owners(self, listed: Collection[object]) -> None:
        """Tabs whose VM is no longer listed say so (`TerminalTabs.keep_owners`)."""
        if self.tabs is not None:
            self.tabs.keep_owners(listed)

    async def open_session(
        self, provider: Provider, vm: Vm, options: AppOptions, resume_paused: bool, *, another: bool = False
    ) -> None:
        """Focus the tab already open on `vm`, or (none yet, or `another`) open a session as a new tab."""
        tabs = self.tabs
        existing = tabs.session_of(vm.key) if tabs is not None and not another else None
        if tabs is not None and existing is not None:
            tabs.activate(existing)
            if existing.ended:
                tabs.reconnect(existing)
            return
        from vmtui.services.ssh import SshSession
        from vmtui.terminal.ssh_transport import ssh_transport_factory
        from vmtui.ui.widgets.terminal_tabs import TerminalTabs

        if tabs is None:
            await self.query("#terminal-hint").remove()
            tabs = TerminalTabs(scrollback=options.scrollback, id="terminal-tabs")
            await self.mount(tabs)
            self._tabs = tabs
            self.add_class("-open")

        def make_session() -> SshSession:
            return SshSession(
                provider,
                vm.id,
                known_hosts=TofuKnownHosts(state_dir() / "known_hosts"),
                resume_paused=resume_paused,
                keepalive_interval=options.ssh_keepalive,
            )

        await tabs.open_session(clean(vm.display_name, 30), ssh_transport_factory(make_session), vm.key)
        self.focus_terminal()
