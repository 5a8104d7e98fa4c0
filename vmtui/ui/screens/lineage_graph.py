"""`g`: the lineage as a branch graph on a time axis (newest first), lanes like `git log --graph`.

Up/down move through VMs and commits, space folds or unfolds what descends from the highlighted one,
Enter goes back to the main screen with it selected (a VM in the list, a commit in the tree), so every
action of the main screen applies to it. The selected VM is marked "you are here".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from vmtui.core.lineage import Lineage, LineageNode, NodeKind, build_lineage
from vmtui.core.lineage_graph import ASCII, UNICODE, GraphRow, NodeKey, graph_rows
from vmtui.core.models import Commit, Fleet, Vm
from vmtui.ui.format import STATE_COLOURS, clean, format_age, short_id, state_glyph

LABEL_ROOM = 44
"""Columns kept for a row's text; the lanes get the rest of the width (at least `MIN_LANES`)."""
MIN_LANES = 4

Chosen = Callable[[Vm | Commit], object]


class LineageGraphScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="graph.close", tooltip="Back to the VM list"),
        Binding("space", "fold", "Fold", id="graph.fold", tooltip="Fold or unfold what descends from it"),
        Binding("enter", "choose", "Select", id="graph.select", tooltip="Select it on the main screen"),
    ]
    DEFAULT_CSS = """
    LineageGraphScreen OptionList { height: 1fr; }
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        here: tuple[str, str] | None,
        now: Callable[[], float],
        ascii_only: bool = False,
        on_chosen: Chosen = lambda item: None,
    ) -> None:
        super().__init__()
        self.fleet = fleet
        self.here = here
        self.now = now
        self.ascii_only = ascii_only
        self.on_chosen = on_chosen
        self.lineage: Lineage = build_lineage(fleet.vms, fleet.commits)
        self.folded: set[NodeKey] = set()
        self.rows: list[GraphRow] = []
        self.tag_names: dict[str, list[str]] = {}
        for tag in sorted(fleet.tags, key=lambda t: t.name):
            self.tag_names.setdefault(tag.commit_id, []).append(tag.name)

    def compose(self) -> ComposeResult:
        with Vertical(id="graph-dialog", classes="dialog -wide"):
            title = f"Lineage of {clean(self.fleet.provider, 40)} in time (newest first)"
            yield Label(Text(title), classes="dialog-title")
            yield OptionList(id="graph")
        yield Footer(show_command_palette=False)

    @property
    def graph(self) -> OptionList:
        return self.query_one("#graph", OptionList)

    def on_mount(self) -> None:
        self.redraw()
        here = (NodeKind.VM, self.here[1]) if self.here and self.here[0] == self.fleet.provider else None
        index = next((i for i, row in enumerate(self.rows) if row.node.key == here), 0)
        if self.rows:
            self.graph.highlighted = index
        self.graph.focus()

    def redraw(self) -> None:
        """Lay the graph out again (after a fold), keeping the highlighted node."""
        graph = self.graph
        keep = self.highlighted_node()
        lanes = max(MIN_LANES, (self.app.size.width - LABEL_ROOM) // 2)
        glyphs = ASCII if self.ascii_only else UNICODE
        self.rows = graph_rows(self.lineage, self.folded, max_lanes=lanes, glyphs=glyphs)
        graph.clear_options()
        graph.add_options(
            Option(self._row_text(row), id=f"{row.node.kind.value}:{row.node.id}") for row in self.rows
        )
        if keep is not None:
            index = next((i for i, row in enumerate(self.rows) if row.node is keep), None)
            if index is not None:
                graph.highlighted = index

    def highlighted_node(self) -> LineageNode | None:
        index = self.graph.highlighted if self.rows else None
        return self.rows[index].node if index is not None and index < len(self.rows) else None

    def _row_text(self, row: GraphRow) -> Text:
        glyphs = ASCII if self.ascii_only else UNICODE
        joins = (glyphs.join, glyphs.join_last)
        last_link = max((i for i, cell in enumerate(row.lanes) if cell in joins), default=-1)
        text = Text(no_wrap=True, overflow="ellipsis")
        item = row.node.item
        for column, cell in enumerate(row.lanes):
            link = glyphs.across if column < last_link and column >= row.lane else " "
            if cell == "":
                text.append(self._glyph(item), style=self._colour(item))
            else:
                text.append(cell, style="dim")
            text.append(link, style="dim")
        text.append(" ")
        self._append_label(text, item)
        if row.hidden:
            text.append(f"  (+{row.hidden} folded)", style="italic dim")
        return text

    def _glyph(self, item: Vm | Commit) -> str:
        if isinstance(item, Commit):
            return "o" if self.ascii_only else "◆"
        return state_glyph(item.state, self.ascii_only)

    def _colour(self, item: Vm | Commit) -> str:
        variables = self.app.get_css_variables()
        name = "text-primary" if isinstance(item, Commit) else STATE_COLOURS[item.state]
        value = variables.get(name, "")
        return value if value.startswith("#") else ""

    def _append_label(self, text: Text, item: Vm | Commit) -> None:
        age = format_age(self.now() - item.created_at.timestamp()) if item.created_at else "-"
        if isinstance(item, Commit):
            text.append(clean(short_id(item.id), 20))
            if item.title:
                text.append(f" {clean(item.title, 40)}", style="italic")
            tags = self.tag_names.get(item.id)
            if tags:
                text.append(f" [{clean(', '.join(tags), 40)}]", style="bold")
        else:
            named = item.display_name != item.id
            text.append(clean(short_id(item.display_name, 24 if named else 8), 30))
            if named:
                text.append(f" {clean(short_id(item.id), 20)}", style="dim")
        text.append(f" {age}", style="dim")
        if isinstance(item, Vm) and item.key == self.here:
            text.append(" <- you are here" if self.ascii_only else " ◀ you are here", style="bold reverse")

    def action_fold(self) -> None:
        node = self.highlighted_node()
        if node is None or not (node.children or node.key in self.folded):
            return
        self.folded.symmetric_difference_update({node.key})
        self.redraw()

    @on(OptionList.OptionSelected)
    def action_choose(self) -> None:
        node = self.highlighted_node()
        if node is None:
            return
        self.dismiss(None)
        self.on_chosen(node.item)

    def items(self) -> list[Vm | Commit]:
        """The shown VMs and commits, newest first."""
        return [row.node.item for row in self.rows]
