"""`d`: files added, removed and changed between two commits (or a VM and its parent commit), with
a text diff of the highlighted file below (textual-diff-view). The comparison runs as a worker that
reports each step; Escape leaves at any time (temporary VMs are still deleted by the running work)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static
from textual_diff_view import DiffView

from vmtui.core.errors import ProviderError
from vmtui.core.models import FileChange, FileTexts
from vmtui.core.text import one_line
from vmtui.services.file_diff import DiffRequest, DiffResult, FileDiffer
from vmtui.ui.format import clean, format_size

MARKS = {"added": ("A", "green"), "removed": ("D", "red"), "changed": ("M", "yellow")}
COLUMNS = (("", 1), ("kind", 7), ("size", 22), ("path", None))


def _sizes(change: FileChange) -> str:
    if change.kind != "file":
        return ""
    if change.change == "added":
        return format_size(change.size_after)
    if change.change == "removed":
        return format_size(change.size_before)
    return f"{format_size(change.size_before)} → {format_size(change.size_after)}"


def _shown(text: str) -> str:
    """A file's text with every control or escape character made visible (it comes from a VM)."""
    return "\n".join(one_line(line.expandtabs(4), len(line) * 6 + 8) for line in text.split("\n"))


def _cells(change: FileChange) -> tuple[Text, ...]:
    mark, style = MARKS[change.change]
    return (Text(mark, style=style), Text(change.kind), Text(_sizes(change)), Text(clean(change.path, 300)))


class FileDiffScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="diff.close", tooltip="Back to the VM list"),
        Binding("s", "toggle_split", "Split", id="diff.split", tooltip="Side by side or unified"),
    ]
    DEFAULT_CSS = """
    FileDiffScreen { layout: vertical; }
    FileDiffScreen #diff-title { text-style: bold; padding: 0 1; }
    FileDiffScreen #diff-status { padding: 0 1; color: $text-muted; height: auto; max-height: 4; }
    FileDiffScreen #diff-table { height: 1fr; min-height: 5; }
    FileDiffScreen #diff-text { height: 2fr; border-top: solid $foreground 20%; }
    """

    def __init__(self, differ: FileDiffer, request: DiffRequest) -> None:
        super().__init__()
        self.differ = differ
        self.request = request
        self.result: DiffResult | None = None
        self.steps: list[str] = []
        self.split = False

    def compose(self) -> ComposeResult:
        yield Label(Text(f"Files · {clean(self.request.title, 200)}"), id="diff-title")
        yield Static(id="diff-status")
        yield DataTable(cursor_type="row", id="diff-table")
        yield VerticalScroll(id="diff-text")
        yield Footer(show_command_palette=False)  # the app's ctrl+p binding shows its hint here

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#diff-table", DataTable)

    def on_mount(self) -> None:
        for label, width in COLUMNS:
            self.table.add_column(label, width=width)
        self.table.focus()
        self._compare()

    def _status(self, text: str) -> None:
        self.query_one("#diff-status", Static).update(Text(text))

    def _progress(self, step: str) -> None:
        self.steps.append(step)
        self._status(step)

    @work(group="diff", exclusive=True, exit_on_error=False)
    async def _compare(self) -> None:
        try:
            result = await self.differ.run(self.request, self._progress)
        except ProviderError as exc:
            self._status(f"Comparison failed: {clean(exc, 300)}")
            return
        self.result = result
        changes = result.diff.changes
        self.table.add_rows(_cells(change) for change in changes)
        counts = {kind: sum(1 for c in changes if c.change == kind) for kind in MARKS}
        summary = f"{counts['added']} added · {counts['removed']} removed · {counts['changed']} changed"
        if result.diff.truncated:
            summary += " · listing cut short (too many files)"
        notes = "".join(f"\n{clean(note, 300)}" for note in result.notes)
        self._status((summary if changes else "No file differs.") + notes)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.result is not None and 0 <= event.cursor_row < len(self.result.diff.changes):
            self._show_text(self.result.diff.changes[event.cursor_row])

    @work(group="diff-text", exclusive=True, exit_on_error=False)
    async def _show_text(self, change: FileChange) -> None:
        box = self.query_one("#diff-text", VerticalScroll)
        if change.kind != "file":
            await box.remove_children()
            await box.mount(Static(Text(f"{change.change}: {change.kind} {clean(change.path, 300)}")))
            return
        assert self.result is not None
        try:
            texts = await self.result.texts(change.path)
        except ProviderError as exc:
            await box.remove_children()
            await box.mount(Static(Text(clean(exc, 300))))
            return
        await box.remove_children()
        await box.mount(self._view(texts))

    def _view(self, texts: FileTexts) -> Static | DiffView:
        if texts.binary:
            return Static(Text("Binary or large file: no text diff."))
        path = clean(texts.path, 200)
        return DiffView(
            f"before {path}" if texts.before is not None else "(no file before)",
            f"after {path}" if texts.after is not None else "(no file after)",
            _shown(texts.before or ""),
            _shown(texts.after or ""),
            split=self.split,
        )

    def action_toggle_split(self) -> None:
        self.split = not self.split
        for view in self.query(DiffView):
            view.split = self.split
