"""VmTuiApp: the thin shell. It holds options and the Actions service, applies theme and keymap,
and shows the MainScreen, which owns the panes, the polling and the actions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.theme import BUILTIN_THEMES

from vmtui.paths import styles_dir
from vmtui.services.actions import Actions
from vmtui.ui.screens.main import MainScreen, Opener


@dataclass(frozen=True)
class PollOptions:
    fast: float = 0.5
    slow: float = 4.0
    max_backoff: float = 30.0
    timeout: float = 10.0


@dataclass
class AppOptions:
    """Everything the UI needs from the settings, explicit so tests and screenshots can pin it."""

    active_profile: str = "local"
    ascii: bool = False
    theme: str = "textual-dark"
    keymap: dict[str, str] = field(default_factory=dict)
    poll: PollOptions = field(default_factory=PollOptions)
    read_only: bool = False
    scrollback: int = 10_000
    ssh_keepalive: int = 10
    now: Callable[[], float] = time.time
    """Wall clock for ages; tests pin it."""


class VmTuiApp(App[None]):
    TITLE = "vmtui"
    CSS_PATH = None
    inherit_bindings = False
    COMMANDS: ClassVar[set] = set()
    """No separate system provider: the main screen's provider lists app commands too, in one
    stable order."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "leave", "Quit", id="app.quit", tooltip="Leave vmtui (VMs keep running)"),
        Binding(
            "ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_now", tooltip="Leave vmtui"
        ),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Every key, from the live bindings"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            id="app.palette",
            tooltip="Every action for the selection, searchable",
        ),
    ]

    def __init__(
        self, openers: dict[str, Opener], options: AppOptions | None = None, *, shown: list[str] | None = None
    ) -> None:
        self.options = options or AppOptions()
        self.CSS_PATH = [str(styles_dir() / "vmtui.tcss")]
        super().__init__()
        self.openers = openers
        self.actions = Actions({}, self._pending_changed)
        self.main_screen = MainScreen(self.actions, openers, shown)
        self._quit_armed = False

    def on_mount(self) -> None:
        self.set_class(self.options.ascii, "-ascii")
        if self.options.theme in BUILTIN_THEMES or self.options.theme in self.available_themes:
            self.theme = self.options.theme
        else:
            self.notify(f"Unknown theme '{self.options.theme}', using {self.theme}", severity="warning")
        if self.options.keymap:
            self.set_keymap(self.options.keymap)
        self.push_screen(self.main_screen)

    def _pending_changed(self) -> None:
        if self.main_screen.is_attached:
            self.main_screen.pending_changed()

    async def action_leave(self) -> None:
        """Quit; with actions in flight, only on a second press (their results would be lost)."""
        if self.actions.pending and not self._quit_armed:
            self._quit_armed = True
            self.notify(
                f"{len(self.actions.pending)} action(s) still running; press q again to quit anyway",
                severity="warning",
            )
            return
        self.exit()

    def action_help(self) -> None:
        if self.screen is self.main_screen:
            self.main_screen.action_help()
