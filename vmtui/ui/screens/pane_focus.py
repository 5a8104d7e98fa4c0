"""Moving the keyboard between the main screen's four panes, and maximising one of them."""

from __future__ import annotations

from textual.screen import Screen
from textual.widget import Widget

from vmtui.ui.widgets.terminal_area import TerminalArea

FOCUS_PANES = ("vm-table", "lineage-tree", "details", "terminal-area")


class PaneFocus:
    def __init__(self, screen: Screen[None]) -> None:
        self.screen = screen

    def _panes(self) -> list[Widget]:
        return [self.screen.query_one(f"#{pane_id}") for pane_id in FOCUS_PANES]

    def _focused(self) -> Widget | None:
        focused = self.screen.focused
        return next((p for p in self._panes() if focused is p or (focused and p in focused.ancestors)), None)

    def step(self, step: int) -> None:
        """Focus the next (1) or previous (-1) pane."""
        panes = self._panes()
        current = self._focused()
        index = panes.index(current) if current is not None else -1
        self._focus(panes[(index + step) % len(panes)])

    def goto(self, index: int) -> None:
        self._focus(self._panes()[index])

    def _focus(self, pane: Widget) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
        if isinstance(pane, TerminalArea) and pane.focus_terminal():
            return
        focus_target = next((w for w in pane.query("*") if w.focusable), None) if not pane.focusable else pane
        (focus_target or pane).focus()

    def zoom(self) -> None:
        """Maximise the focused pane, or restore."""
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        pane = self._focused()
        if pane is not None:
            self.screen.maximize(pane, container=False)

    def zoom_terminal(self) -> None:
        """Maximise the terminal pane and focus it, or restore."""
        area = self.screen.query_one(TerminalArea)
        if self.screen.maximized is area:
            self.screen.minimize()
            return
        if self.screen.maximized is not None:
            self.screen.minimize()
        self.screen.maximize(area, container=False)
        if not area.focus_terminal():
            area.focus()
