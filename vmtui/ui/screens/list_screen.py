"""ListScreen: a dialog that lists one kind of thing (secrets, port mappings, images) in a table,
reloads it, and runs changes to it through `Actions` with a confirm first.

A kind says what it lists (`KIND`, `COLUMNS`, `fetch`, `rows`) and adds its own keys; the loading,
cursor keeping, status line, confirmations and error reporting are here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import ClassVar, Generic, TypeVar

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

from vmtui.core.errors import ProviderError
from vmtui.services.actions import Actions, Outcome
from vmtui.ui.format import clean
from vmtui.ui.screens.confirm import ConfirmScreen

ItemT = TypeVar("ItemT")

Row = tuple[str, Sequence[RenderableType]]
"""(row key, cells)"""


def close_binding(kind: str) -> Binding:
    return Binding("escape", "app.pop_screen", "Back", id=f"{kind}.close", tooltip="Back to the VM list")


def reload_binding(kind: str, what: str) -> Binding:
    return Binding("ctrl+r", "reload", "Refresh", id=f"{kind}.refresh", tooltip=f"Reload the {what}")


class ListScreen(ModalScreen[None], Generic[ItemT]):
    KIND: ClassVar[str]
    """Names the widgets: #KIND-dialog, #KIND-table, #KIND-status; and titles notifications."""
    TITLE: ClassVar[str]
    """Notification title."""
    WHAT: ClassVar[str]
    """What the rows are, plural ("secrets")."""
    COLUMNS: ClassVar[tuple[tuple[str, str, int | None], ...]]
    """(label, key, width) of each column."""
    SHOW_PALETTE_KEY: ClassVar[bool] = True
    DEFAULT_CSS = """
    ListScreen DataTable { height: 1fr; }
    ListScreen .list-status { height: auto; color: $text-muted; }
    """

    def __init__(self, actions: Actions) -> None:
        super().__init__()
        self.actions = actions
        self.items: list[ItemT] = []

    # ------------------------------------------------------------------ what a kind defines

    def heading(self) -> RenderableType:
        raise NotImplementedError

    def hints(self) -> ComposeResult:
        """Widgets between the heading and the table."""
        yield from ()

    def below(self) -> ComposeResult:
        """Widgets between the table and the status line."""
        yield from ()

    async def fetch(self) -> list[ItemT]:
        raise NotImplementedError

    def rows(self, items: list[ItemT]) -> Iterable[Row]:
        raise NotImplementedError

    def loaded(self) -> str:
        """The status line after a load."""
        return f"{len(self.items)} {self.WHAT}"

    def load_failed(self, error: ProviderError) -> None:
        self.status(f"Cannot list {self.WHAT}: {error}")
        self.notify(clean(error, 300), title=self.TITLE, severity="error", markup=False)

    # ------------------------------------------------------------------ the list

    def compose(self) -> ComposeResult:
        with Vertical(id=f"{self.KIND}-dialog", classes="dialog"):
            yield Label(self.heading(), classes="dialog-title")
            yield from self.hints()
            yield DataTable(cursor_type="row", id=f"{self.KIND}-table")
            yield from self.below()
            yield Static("Loading…", id=f"{self.KIND}-status", classes="list-status")
        yield Footer(show_command_palette=self.SHOW_PALETTE_KEY)

    @property
    def table(self) -> DataTable[RenderableType]:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        for label, key, width in self.COLUMNS:
            self.table.add_column(label, key=key, width=width)
        self.table.focus()
        self.action_reload()

    def status(self, text: str) -> None:
        self.query_one(f"#{self.KIND}-status", Static).update(Text(clean(text, 300)))

    def action_reload(self) -> None:
        self.load()

    @work(group="list-load", exclusive=True, exit_on_error=False)
    async def load(self, select: str | None = None) -> None:
        """Fetch and show the list, keeping the cursor (or moving it to the row keyed `select`)."""
        try:
            self.items = await self.fetch()
        except ProviderError as exc:
            self.load_failed(exc)
            return
        table = self.table
        keep = table.cursor_row
        table.clear()
        keys = []
        for key, cells in self.rows(self.items):
            table.add_row(*cells, key=key)
            keys.append(key)
        if table.row_count:
            table.move_cursor(row=keys.index(select) if select in keys else min(keep, table.row_count - 1))
        self.status(self.loaded())

    def selected_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # ------------------------------------------------------------------ changes

    def confirm(self, question: ConfirmScreen, then: Callable[[], object]) -> None:
        self.app.push_screen(question, lambda yes: then() if yes else None)

    @work(group="list-change", exit_on_error=False)
    async def change(self, run: Callable[[], Awaitable[Outcome]], failed: str, failed_status: str) -> None:
        """Run a change through Actions (badge, poll, kept error); a refusal goes to the status line
        (after `failed_status`) and a notification titled `failed`, a success to a notification;
        then the list reloads."""
        try:
            outcome = await run()
        except ProviderError as exc:
            self.status(f"{failed_status}: {exc}")
            self.notify(clean(exc, 300), title=failed, severity="error", timeout=8, markup=False)
            return
        self.status(outcome.message)
        self.notify(clean(outcome.message, 300), title=self.TITLE, markup=False)
        self.load()
