"""`?`: every key of the screen underneath, generated from its live bindings (so remaps show)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from vmtui.ui.widgets.terminal_keys import HELP_ROWS


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Close", id="dialog.cancel", tooltip="Close the help"),
        Binding(
            "question_mark", "app.pop_screen", "Close", show=False, id="help.close", tooltip="Close the help"
        ),
        Binding("q", "app.run('app.quit')", "Quit", id="help.quit", tooltip="Leave vmtui, as everywhere"),
    ]
    """A modal screen hides the app's bindings, so `q` is repeated here (the help says it works everywhere)."""

    def __init__(self, underneath: Screen, reasons: dict[str, str] | None = None) -> None:
        super().__init__()
        self.underneath = underneath
        self.reasons = reasons or {}

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(self._table(), id="help-table")
                yield Label("Inside a terminal", classes="dialog-title")
                yield Static(self._terminal_table(), id="help-terminal")

    def _table(self) -> Table:
        table = Table(box=None, expand=True, padding=(0, 1))
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        table.add_column("id", style="dim", no_wrap=True)
        seen: set[str] = set()
        ours = [a for a in self.underneath.active_bindings.values() if a.binding.id and a.binding.description]
        ours.sort(key=lambda a: (a.binding.id.split(".")[0] != "vm", a.binding.id))
        for active in ours:
            binding = active.binding
            ident = binding.id
            if ident in seen:
                continue
            seen.add(ident)
            description = Text(binding.description)
            if binding.tooltip:
                description.append(f" — {binding.tooltip}", style="dim")
            reason = self.reasons.get(ident)
            if not active.enabled:
                description.stylize("dim")
                description.append(
                    f"  (unavailable: {reason})" if reason else "  (unavailable)", style="italic"
                )
            table.add_row(self.app.get_key_display(binding), description, ident)
        table.caption = "arrows, pgup/pgdn, home/end move within the focused pane"
        return table

    @staticmethod
    def _terminal_table() -> Table:
        """The terminal's own keys (`terminal_keys.HELP_ROWS`): every other key goes to the remote program."""
        table = Table(box=None, expand=True, padding=(0, 1))
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        for key, text in HELP_ROWS:
            table.add_row(key, text)
        return table
