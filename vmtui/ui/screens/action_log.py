"""`L`: every change this session made (time, profile, action, target, result), newest at the
bottom, with the selected change's `vers` command and `curl` requests below; `v` / `u` export the
whole log as a shell script of vers-cli commands or of curl requests."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from vmtui.services.action_log import ActionLog, LogEntry, curl_line
from vmtui.ui.format import clean

COLUMNS = (("time", 8), ("profile", 10), ("action", 14), ("target", 30), ("result", None))


def _cells(entry: LogEntry) -> tuple[Text, ...]:
    result = Text("ok", style="green") if entry.ok else Text(clean(entry.result, 200), style="red")
    return (
        Text(f"{entry.time.astimezone():%H:%M:%S}"),
        Text(clean(entry.profile, 40)),
        Text(entry.action),
        Text(clean(entry.target, 80)),
        result,
    )


class ActionLogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="log.close", tooltip="Back to the VM list"),
        Binding(
            "v", "export('vers')", "Export vers", id="log.export_vers", tooltip="Save as vers-cli commands"
        ),
        Binding("u", "export('curl')", "Export curl", id="log.export_curl", tooltip="Save as curl requests"),
    ]
    DEFAULT_CSS = """
    ActionLogScreen { layout: vertical; }
    ActionLogScreen #log-title { text-style: bold; padding: 0 1; }
    ActionLogScreen #log-table { height: 1fr; }
    ActionLogScreen #log-detail { height: auto; max-height: 8; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, log: ActionLog, export_dir: Path) -> None:
        super().__init__()
        self.action_log = log
        self.export_dir = export_dir
        self._shown: list[LogEntry] = []

    def compose(self) -> ComposeResult:
        yield Label("Action log", id="log-title")
        yield DataTable(cursor_type="row", id="log-table")
        yield Static(id="log-detail")
        yield Footer(show_command_palette=False)  # the app's ctrl+p binding shows its hint here

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#log-table", DataTable)

    def on_mount(self) -> None:
        table = self.table
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        self._shown = list(self.action_log.entries)
        table.add_rows(_cells(entry) for entry in self._shown)
        self._title()
        if self._shown:
            table.move_cursor(row=len(self._shown) - 1)
        else:
            self._detail(None)
        self.action_log.listeners.append(self._appended)
        table.focus()

    def on_unmount(self) -> None:
        self.action_log.listeners.remove(self._appended)

    def _title(self) -> None:
        where = f" · saved to {self.action_log.path}" if self.action_log.path is not None else ""
        self.query_one("#log-title", Label).update(f"Action log · {len(self._shown)} changes{where}")

    def _appended(self, entry: LogEntry) -> None:
        at_end = self.table.cursor_row >= len(self._shown) - 1
        self._shown.append(entry)
        self.table.add_row(*_cells(entry))
        self._title()
        if at_end:
            self.table.move_cursor(row=len(self._shown) - 1)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = event.cursor_row
        self._detail(self._shown[row] if 0 <= row < len(self._shown) else None)

    def _detail(self, entry: LogEntry | None) -> None:
        detail = self.query_one("#log-detail", Static)
        if entry is None:
            detail.update("No changes yet: what you create, branch, commit, delete … is listed here.")
            return
        lines = [f"result: {clean(entry.result, 300)}"]
        if entry.ids:
            lines.append(f"made: {', '.join(entry.ids)}")
        lines.append("vers: " + (" ".join(entry.vers) if entry.vers else "(no vers-cli command)"))
        lines.extend(curl_line(request) for request in entry.requests)
        detail.update(Text("\n".join(lines)))

    def action_export(self, kind: str) -> None:
        try:
            path = self.action_log.export(kind, self.export_dir)
        except OSError as exc:
            self.notify(clean(exc, 300), title="Export failed", severity="error", markup=False)
            return
        self.notify(f"{len(self.action_log)} changes saved to {path}", title="Action log", markup=False)
