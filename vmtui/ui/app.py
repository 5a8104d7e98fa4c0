"""VmTuiApp: the thin shell. It holds the options and the Actions service, applies theme and keymap,
and shows the MainScreen, which composes the panes and routes messages."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

from textual import events
from textual.app import App
from textual.binding import BindingType
from textual.filter import LineFilter
from textual.screen import Screen
from textual.theme import BUILTIN_THEMES

from vmtui.core.collector import collector
from vmtui.paths import styles_dir
from vmtui.services.action_log import ActionLog
from vmtui.services.actions import Actions, PendingKey
from vmtui.services.registry import Opener
from vmtui.ui.actions import REGISTRY, Scope, UiAction, bind_registry, bindings
from vmtui.ui.ascii_filter import AsciiFilter
from vmtui.ui.key_gate import KeyGate
from vmtui.ui.keymap_check import keymap_problems
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.describe import DescribeScreen
from vmtui.ui.screens.help import HelpScreen
from vmtui.ui.screens.images import ImagesScreen
from vmtui.ui.screens.logs import LogsScreen
from vmtui.ui.screens.main import MainScreen
from vmtui.ui.screens.text_view import TextViewScreen
from vmtui.ui.widgets.vm_table import VmTable

MAIN_STYLES = "vmtui.tcss"
DIALOG_STYLES = "dialogs.tcss"
"""Read with the first dialog (`push_screen`): the first frame parses only the main screen's rules."""


class VmTuiApp(App[None]):
    TITLE = "vmtui"
    CSS_PATH = None
    inherit_bindings = False
    COMMANDS: ClassVar[set] = set()
    """No separate system provider: the main screen's provider lists app commands too, in one
    stable order."""
    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.APP)

    def __init__(
        self,
        openers: dict[str, Opener],
        options: AppOptions | None = None,
        *,
        shown: list[str] | None = None,
        registry: tuple[UiAction, ...] = REGISTRY,
    ) -> None:
        self.options = options or AppOptions()
        self.CSS_PATH = [str(styles_dir() / MAIN_STYLES)]
        super().__init__()
        bind_registry(self, Scope.APP, registry)
        self.openers = openers
        self.actions = Actions(
            {},
            self._pending_changed,
            log=ActionLog(directory=self.options.action_log_dir),
            checkpoint_keep=self.options.checkpoint_keep,
        )
        self.main_screen = MainScreen(self.actions, openers, self.options, shown, registry)
        self._quit_armed = False
        self._ascii_filter = [AsciiFilter()] if self.options.ascii else []
        self.key_gate = KeyGate(self, self._dispatch_key)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            await self.key_gate.admit(event)  # typed keys go one at a time (`vmtui.ui.key_gate`)
        else:
            await super().on_event(event)

    async def _dispatch_key(self, key: events.Key) -> None:
        await super().on_event(key)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """`--ascii` adds the filter that keeps every drawn character ASCII (`vmtui.ui.ascii_filter`)."""
        return [*super().get_line_filters(), *self._ascii_filter]

    async def on_load(self) -> None:
        """Before the stylesheet is parsed and anything is composed: the lists are asked for first, so
        their answers arrive while the first screen is built."""
        collector.hold_until_started()  # a collection in the first frame walked everything for nothing
        self.main_screen.start_polling()
        self.run_worker(self._collect_when_started(), group="start")
        # One turn of the loop: the pollers open their profiles and start connecting now, not after the
        # stylesheet is parsed (~5 ms, which nothing interrupts).
        await asyncio.sleep(0)

    async def _collect_when_started(self) -> None:
        await self.main_screen.panes_mounted.wait()
        collector.started()

    def get_default_screen(self) -> MainScreen:
        """The main screen is the first and bottom screen: no blank default screen is built and styled
        under it first."""
        return self.main_screen

    def push_screen(self, screen: Screen | str, *args: Any, **kwargs: Any) -> Any:
        """Every screen over the main one is a dialog: the dialogs' rules are read with the first."""
        dialog_styles = styles_dir() / DIALOG_STYLES
        if dialog_styles not in self.css_path:
            self.css_path.append(dialog_styles)  # a stylesheet reload (`textual --dev`) reads it too
            self.stylesheet.read(
                dialog_styles
            )  # parsed as the dialog is styled; no rule of it matches the main screen
        return super().push_screen(screen, *args, **kwargs)

    def on_unmount(self) -> None:
        collector.release()  # also when the app closes before its first screen was whole

    def on_mount(self) -> None:
        self.set_class(self.options.ascii, "-ascii")
        if self.options.theme in BUILTIN_THEMES or self.options.theme in self.available_themes:
            self.theme = self.options.theme
        else:
            self.notify(f"Unknown theme '{self.options.theme}', using {self.theme}", severity="warning")
        if self.options.keymap:
            from vmtui.ui.widgets.terminal_pane import TerminalPane
            from vmtui.ui.widgets.terminal_tabs import TerminalTabs

            owners = (
                VmTable,
                TerminalPane,
                TerminalTabs,
                ImagesScreen,
                HelpScreen,
                ConfirmScreen,
                DescribeScreen,
                LogsScreen,
                TextViewScreen,
            )
            for problem in keymap_problems(self.options.keymap, owners):
                self.notify(problem, title="Config", severity="warning", timeout=10, markup=False)
            self.set_keymap(self.options.keymap)

    def _pending_changed(self, key: PendingKey) -> None:
        if self.main_screen.is_attached:
            self.main_screen.pending_changed(key)

    async def action_run(self, action_id: str) -> None:
        """An app-wide key of the registry (it works over dialogs too)."""
        await self.main_screen.mount_panes()
        result = self.main_screen.registry[action_id].flow(self.main_screen)
        if inspect.isawaitable(result):
            await result

    async def action_leave(self) -> None:
        """Quit; with actions in flight, shells or tunnels open, only on a second press (they would be lost)."""
        tabs = self.main_screen.terminal.tabs if self.main_screen.is_attached else None
        shells = sum(not session.ended for session in tabs.sessions) if tabs is not None else 0
        losses = []
        if self.actions.pending:
            losses.append(f"{len(self.actions.pending)} action(s) still running")
        if shells:
            losses.append(f"{shells} shell{'s' if shells != 1 else ''} open")
        tunnels = len(self.main_screen.tunnels.open_tunnels)
        if tunnels:
            losses.append(f"{tunnels} tunnel{'s' if tunnels != 1 else ''} open")
        if losses and not self._quit_armed:
            self._quit_armed = True
            self.notify(f"{'; '.join(losses)}: press q again to quit anyway", severity="warning")
            return
        self.exit()
