"""The commit/branch tree: VMs and commits as one lineage, reconciled in place on every poll.

Layout rules, so deep histories stay readable:
- every VM or commit is drawn under its parent, so a chain (a VM, its commit, the VM started from
  it, …) reads as a chain, as in a file tree;
- a run longer than `CHAIN_KEEP` visible steps (each node has exactly one child) folds its middle into
  one "⋯ N more steps" step, so a long chain costs at most `CHAIN_KEEP` + 1 levels of indentation;
  Enter on it lists the hidden steps inside it, one level deep, each marked as following the one
  above ("↳"), and the selected VM's fold opens by itself;
- the selected VM is marked "you are here" and its path is expanded;
- a commit shows its name, its age, the tags pointing at it and whether it is public (ages are redrawn
  every `AGE_REFRESH` seconds, only where the text changed).
Tree nodes are keyed, so expansion and the cursor survive refreshes.

A big lineage (more than `SYNC_LIMIT` VMs and commits) is rebuilt without blocking the UI: its shapes
are computed in a thread and the tree is patched in slices of `SLICE_SECONDS` with the event loop served
in between; fleets arriving meanwhile are applied by the next round, so the tree fills in as lineage
arrives and no work is thrown away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress, pairwise
from operator import is_not
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.widgets import Tree
from textual.widgets._tree import _TreeLine
from textual.widgets.tree import TreeNode

from vmtui.core.collector import collector
from vmtui.core.lineage import Lineage, LineageNode, NodeKind, build_lineage
from vmtui.core.models import Commit, Fleet, Vm
from vmtui.services.checkpoints import checkpoint_info, checkpoint_title, is_checkpoint
from vmtui.ui.format import STATE_COLOURS, clean, format_age, short_id, state_glyph, theme_style

SYNC_LIMIT = 500
"""Up to this many VMs and commits the tree is rebuilt at once; beyond, in the background."""
SLICE_SECONDS = 0.03
"""Work done between two turns of the event loop during a background rebuild. Each turn that draws a
frame costs Tree a pass over every line (~60 ms at 10,000 nodes), so slices are measured in time, not
nodes: a rebuild that moves few nodes is one slice, not one per 500 nodes visited."""
CHAIN_KEEP = 4
"""Steps of a linear run shown before its middle folds: the first one and the last ones."""
AGE_REFRESH = 60.0
GUIDE_DEPTH = 2
"""Cells of indentation per level: a chain nests, so each level costs as little as it can."""

NodeId = tuple[str, ...]
"""(profile, kind, id) for VMs and commits, (profile, "fold", first hidden id) for folds,
(profile,) for a profile's root when several profiles are shown, (profile, "more") for the node that
loads more commits."""
MORE = "more"


@dataclass
class Shape:
    """What one tree node should be: its identity, label parts and children."""

    node_id: NodeId
    item: Vm | Commit | None
    children: list[Shape] = field(default_factory=list)
    folded: int = 0
    """On a fold: how many steps it stands for."""
    hidden: tuple[NodeId, ...] = ()
    """On a folded fold: the steps it hides."""
    listed: bool = False
    """A step listed inside an opened fold (it follows the step above it)."""
    profile: str = ""
    more: int = 0
    """On the "more commits" node: how many commits are not fetched yet."""


def _node_id(profile: str, node: LineageNode) -> NodeId:
    return (profile, node.kind.value, node.id)


def shape_lineage(profile: str, lineage: Lineage, opened: Collection[NodeId] = ()) -> list[Shape]:
    """Top-level shapes of one profile's lineage (pure; the widget only mirrors them). `opened`: the
    folds whose hidden steps are listed."""
    return [_shape_run(profile, root, opened) for root in lineage.roots]


def _shape_run(profile: str, start: LineageNode, opened: Collection[NodeId]) -> Shape:
    """The run starting at `start` as a chain (each step under the one before it), its middle folded
    when long; the branches at its end hang under its last step."""
    run = [start]
    while len(run[-1].children) == 1:
        run.append(run[-1].children[0])
    branches = [_shape_run(profile, child, opened) for child in run[-1].children]
    steps = [Shape(_node_id(profile, node), node.item, profile=profile) for node in run]
    if len(steps) > CHAIN_KEEP + 1:
        tail = steps[len(steps) - (CHAIN_KEEP - 1) :]
        hidden = steps[1 : len(steps) - (CHAIN_KEEP - 1)]
        fold_id: NodeId = (profile, "fold", hidden[0].node_id[2])
        if fold_id in opened:
            for step in (listed := [*hidden, *tail]):
                step.listed = True
            listed[-1].children = branches
            fold = Shape(fold_id, None, listed, folded=len(hidden), profile=profile)
            return _chain([steps[0], fold], [])
        fold = Shape(
            fold_id, None, folded=len(hidden), hidden=tuple(s.node_id for s in hidden), profile=profile
        )
        steps = [steps[0], fold, *tail]
    return _chain(steps, branches)


def _chain(steps: list[Shape], branches: list[Shape]) -> Shape:
    """Each step the only child of the one before; `branches` under the last."""
    for parent, child in pairwise(steps):
        parent.children = [child]
    if branches:
        steps[-1].children = branches
    return steps[0]


class LineageTree(Tree[NodeId]):
    class LoadMore(Message):
        """Enter on "N more commits": fetch the next page of that profile's commits."""

        def __init__(self, profile: str) -> None:
            super().__init__()
            self.profile = profile

    class ItemHighlighted(Message):
        def __init__(self, node_id: NodeId | None, item: Vm | Commit | None) -> None:
            super().__init__()
            self.node_id = node_id
            self.item = item

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "enter_node",
            "Describe",
            show=False,
            tooltip="Describe the item; on '⋯ N more steps' list them (Space or a click folds a node)",
        )
    ]
    """Enter describes, as on a row of the VM list (on "N more commits" it loads them, on "N more steps"
    it lists them); Tree's own Enter would only fold."""

    def __init__(self, *, ascii_only: bool = False, now: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__("lineage", **kwargs)
        self.now = now
        self.tag_names: dict[tuple[str, str], tuple[str, ...]] = {}
        """(profile, commit id) → the names of the tags pointing at it."""
        self.show_root = False
        self.guide_depth = GUIDE_DEPTH
        self.ascii_only = ascii_only
        if ascii_only:
            self.ICON_NODE, self.ICON_NODE_EXPANDED = "> ", "v "
            self.LINES = {style: ("  ", "| ", "`-", "|-") for style in ("default", "bold", "double")}
        self.here: tuple[str, str] | None = None
        self.items: dict[NodeId, Vm | Commit] = {}
        self._tree_index: dict[NodeId, TreeNode[NodeId]] = {}
        self._labels: dict[NodeId, Text] = {}
        self.opened: set[NodeId] = set()
        """Folds whose hidden steps are listed (Enter on the fold, or the selected VM is among them)."""
        self._folded_into: dict[NodeId, NodeId] = {}
        """A step hidden by a fold → that fold."""
        self._listed: set[NodeId] = set()
        """Steps listed inside an opened fold."""
        self._listed_before: set[NodeId] = set()
        self._fleets: dict[str, Fleet] = {}
        self._colours: dict[str, str] = {}
        self._last_structure: tuple | None = None
        self._cursor_before: NodeId | None = None
        self._rebuilding = False

    def on_mount(self) -> None:
        self._colours = self.app.get_css_variables()
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.set_interval(AGE_REFRESH, self._relabel_commits)

    @property
    def rebuilding(self) -> bool:
        """A big tree is being rebuilt in the background (it fills in meanwhile)."""
        return self._rebuilding

    def _relabel_commits(self) -> None:
        for node_id in [n for n in self._tree_index if n[1:2] == (NodeKind.COMMIT.value,)]:
            self._relabel(node_id)

    def _on_theme_changed(self, _theme: object) -> None:
        self._colours = self.app.get_css_variables()
        for node_id in list(self._tree_index):
            self._relabel(node_id)

    def set_fleets(self, fleets: Iterable[Fleet]) -> None:
        previous, self._fleets = self._fleets, {fleet.provider: fleet for fleet in fleets}
        tag_names: dict[tuple[str, str], tuple[str, ...]] = {}
        for fleet in self._fleets.values():
            for tag in sorted(fleet.tags, key=lambda t: t.name):
                key = (fleet.provider, tag.commit_id)
                tag_names[key] = (*tag_names.get(key, ()), tag.name)
        retagged = {
            key
            for key in tag_names.keys() | self.tag_names.keys()
            if tag_names.get(key) != self.tag_names.get(key)
        }
        self.tag_names = tag_names
        changed = None if self._rebuilding else _same_shape_changes(previous, self._fleets)
        if changed is None:
            self._reconcile()
        else:
            self._patch(changed)
        for profile, commit_id in retagged:
            self._relabel((profile, NodeKind.COMMIT.value, commit_id))

    def mark_here(self, vm_key: tuple[str, str] | None) -> None:
        """Mark the VM selected in the list and reveal it, without stealing the cursor when focused.
        Only the two affected labels change, so moving through a long list stays cheap."""
        if vm_key == self.here:
            return
        previous, self.here = self.here, vm_key
        for key in (previous, vm_key):
            if key is not None:
                self._relabel((key[0], NodeKind.VM.value, key[1]))
        if vm_key is not None:
            self.reveal((vm_key[0], NodeKind.VM.value, vm_key[1]), move_cursor=not self.has_focus)

    def reveal(self, node_id: NodeId, *, move_cursor: bool = True) -> bool:
        """Expand the path to a node (opening the fold that hides it) and scroll to it (and put the cursor
        on it); False if not shown (yet: a big tree opens a fold in the background)."""
        fold = self._folded_into.get(node_id)
        if fold is not None and node_id not in self._tree_index:
            self.toggle_fold(fold)
        node = self._tree_index.get(node_id)
        if node is None:
            return False
        parent = node.parent
        while parent is not None:
            if not parent.is_expanded:  # expand() rebuilds every tree line, even when already open
                parent.expand()
            parent = parent.parent
        if move_cursor:
            self.move_cursor(node)
        self.scroll_to_node(node, animate=False)
        # Once more after the next layout: a label wider than the pane adds a horizontal scrollbar,
        # which takes the bottom row the node was scrolled to.
        self.call_after_refresh(self.scroll_to_node, node, animate=False)
        return True

    def toggle_fold(self, fold: NodeId) -> None:
        """List the steps a fold hides, or fold them again."""
        self.opened.symmetric_difference_update({fold})
        self._reconcile()

    def selected_item(self) -> Vm | Commit | None:
        node = self.cursor_node
        return self.items.get(node.data) if node is not None and node.data else None

    def get_label_width(self, node: TreeNode[NodeId]) -> int:
        """The label's width without rendering it: Tree measures every line on each rebuild of its
        lines (every change), and rendering 10,000 labels for that took ~0.1 s each time. The same
        cells as `render_label` gives: the fold icon, then the label (it adds styles, no text)."""
        icon = (self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE) if node.allow_expand else ""
        return cell_len(icon) + node.label.cell_len

    def _build(self) -> None:
        """Tree's own `_build` (textual 8.2.8, pinned) without its recursive closure: a closure that calls
        itself is a reference cycle, and it held the whole list of lines, so every rebuild's lines (two
        objects per node) stayed until a full garbage collection instead of going when replaced. At
        100,000 nodes that garbage was most of what the collector's long passes walked. Same lines, in
        the same order, the same width and cursor handling."""
        lines: list[_TreeLine[NodeId]] = []
        tops = [self.root] if self.show_root else self.root._children
        stack: list[tuple[list[TreeNode[NodeId]], TreeNode[NodeId], bool]] = [
            ([], node, True) for node in reversed(tops)
        ]
        while stack:
            path, node, last = stack.pop()
            child_path = [*path, node]
            node._line = len(lines)
            lines.append(_TreeLine(child_path, last))
            if node._expanded and node._children:
                final = len(node._children) - 1
                stack.extend(
                    (child_path, child, index == final)
                    for index, child in reversed(list(enumerate(node._children)))
                )
        self._tree_lines_cached = lines
        guide_depth, show_root = self.guide_depth, self.show_root
        width = (
            max(
                self.get_label_width(line.node) + line._get_guide_width(guide_depth, show_root)
                for line in lines
            )
            if lines
            else self.size.width
        )
        self.virtual_size = Size(width, len(lines))
        if self.cursor_line != -1:
            if self.cursor_node is not None:
                self.cursor_line = self.cursor_node._line
            if self.cursor_line >= len(lines):
                self.cursor_line = -1

    def _relabel(self, node_id: NodeId) -> None:
        node = self._tree_index.get(node_id)
        item = self.items.get(node_id)
        if node is None or item is None:
            return
        label = self._node_label(Shape(node_id, item, profile=node_id[0], listed=node_id in self._listed))
        if self._labels.get(node_id) != label:
            self._labels[node_id] = label
            node.set_label(label)

    def _structure(self) -> tuple:
        """Everything the tree's shape depends on; when it is unchanged only labels need patching."""
        fleets = tuple(
            (
                profile,
                tuple(map(_shape_of, fleet.vms)),
                tuple(map(_shape_of, fleet.commits)),
                fleet.commits_total,
            )
            for profile, fleet in self._fleets.items()
        )
        return fleets, frozenset(self.opened)

    def _reconcile(self) -> None:
        structure = self._structure()
        if structure == self._last_structure:
            self._patch_items()
            return
        self._last_structure = structure
        if sum(len(f.vms) + len(f.commits) for f in self._fleets.values()) <= SYNC_LIMIT:
            self._apply_shapes(_shapes(self._fleets, frozenset(self.opened)))
        elif not self._rebuilding:
            self._rebuilding = True
            self._rebuild_in_background()

    @work(group="lineage-tree", exit_on_error=False)
    async def _rebuild_in_background(self) -> None:
        """Rebuild from the newest fleets until a rebuild started from them has finished (a newer fleet
        during a rebuild is picked up after it, never by throwing the work away)."""
        try:
            while True:
                structure = self._last_structure
                shapes = await asyncio.to_thread(_shapes, dict(self._fleets), frozenset(self.opened))
                await self._apply_shapes_sliced(shapes)
                if self._last_structure is structure:  # no new shape arrived meanwhile
                    return
        finally:
            self._rebuilding = False

    async def _apply_shapes_sliced(self, shapes: list[Shape]) -> None:
        """Holds the widget's lock, as Tree's own handlers do: Tree re-measures every line on each idle
        turn after a change, which between slices would cost a pass over the whole tree per slice
        (clicks, which need the lines, wait for the rebuild too)."""
        async with self.lock:
            await self._sync_children_sliced(self.root, shapes, self._begin_sync(), _Budget(SLICE_SECONDS))
            self._end_sync()
        collector.settle_soon()  # the new nodes and labels stay: later collections skip them

    def _apply_shapes(self, shapes: list[Shape]) -> None:
        previous = self._begin_sync()
        with self.app.batch_update():
            self._sync_children(self.root, shapes, previous)
            self._end_sync()

    def _begin_sync(self) -> dict[NodeId, Vm | Commit]:
        self._cursor_before = self.cursor_node.data if self.cursor_node is not None else None
        previous, self.items = self.items, {}
        self._folded_into, self._listed_before, self._listed = {}, self._listed, set()
        return previous

    def _end_sync(self) -> None:
        cursor = self._cursor_before
        if cursor in self._tree_index and self.cursor_node is not self._tree_index[cursor]:
            self.move_cursor(self._tree_index[cursor])

    def _patch_items(self) -> None:
        """Same shape as before: relabel only the VMs and commits whose data changed."""
        self._patch(
            ((profile, kind.value, item.id), item)
            for profile, fleet in self._fleets.items()
            for kind, items in ((NodeKind.VM, fleet.vms), (NodeKind.COMMIT, fleet.commits))
            for item in items
        )

    def _patch(self, items: Iterable[tuple[NodeId, Vm | Commit]]) -> None:
        for node_id, item in items:
            old = self.items.get(node_id)
            if old is not item:
                self.items[node_id] = item
                if old != item:
                    self._relabel(node_id)

    def _sync_children(
        self, parent: TreeNode[NodeId], shapes: list[Shape], previous: dict[NodeId, Vm | Commit]
    ) -> None:
        """Make `parent`'s children match `shapes`, reusing (and relabelling only changed) nodes."""
        self._drop_unwanted(parent, shapes)
        for shape in shapes:
            node = self._sync_node(parent, shape, previous)
            self._sync_children(node, shape.children, previous)

    async def _sync_children_sliced(
        self,
        parent: TreeNode[NodeId],
        shapes: list[Shape],
        previous: dict[NodeId, Vm | Commit],
        budget: _Budget,
    ) -> None:
        """`_sync_children`, handing the event loop a turn every `budget.size` nodes."""
        self._drop_unwanted(parent, shapes)
        for shape in shapes:
            node = self._sync_node(parent, shape, previous)
            if budget.spend():
                await asyncio.sleep(0)
            await self._sync_children_sliced(node, shape.children, previous, budget)

    def _drop_unwanted(self, parent: TreeNode[NodeId], shapes: list[Shape]) -> None:
        wanted = {s.node_id for s in shapes}
        for child in list(parent.children):
            if child.data not in wanted:
                self._forget(child)

    def _sync_node(
        self, parent: TreeNode[NodeId], shape: Shape, previous: dict[NodeId, Vm | Commit]
    ) -> TreeNode[NodeId]:
        if shape.item is not None:
            self.items[shape.node_id] = shape.item
        self._folded_into.update(dict.fromkeys(shape.hidden, shape.node_id))
        if shape.listed:
            self._listed.add(shape.node_id)
        node = self._tree_index.get(shape.node_id)
        if node is not None and node.parent is not parent:
            self._forget(node)
            node = None
        if node is None:
            label = self._node_label(shape)
            node = parent.add(label, data=shape.node_id, expand=True)
            self._tree_index[shape.node_id] = node
            self._labels[shape.node_id] = label
        elif (
            shape.item is None
            or previous.get(shape.node_id) is not shape.item
            or shape.listed != (shape.node_id in self._listed_before)
        ):
            label = self._node_label(shape)
            if self._labels.get(shape.node_id) != label:
                node.set_label(label)
                self._labels[shape.node_id] = label
        if node.allow_expand != bool(shape.children):
            node.allow_expand = bool(shape.children)
        return node

    def _forget(self, node: TreeNode[NodeId]) -> None:
        for sub in [node, *_descendants(node)]:
            self._tree_index.pop(sub.data, None)
            self._labels.pop(sub.data, None)
        node.remove()

    def _node_label(self, shape: Shape) -> Text:
        item = shape.item
        if shape.more:
            dots = "..." if self.ascii_only else "⋯"
            return Text(f"{dots} {shape.more:,} more commits: Enter loads the next page", style="italic dim")
        if item is None and shape.folded:
            dots = "..." if self.ascii_only else "⋯"
            if shape.hidden:
                return Text(f"{dots} {shape.folded} more steps (Enter lists)", style="italic dim")
            return Text(f"{dots} {shape.folded} steps in order (Enter folds)", style="italic dim")
        if item is None:
            return Text(clean(shape.profile, 40), style="bold")
        if shape.listed:
            label = Text("-> " if self.ascii_only else "↳ ", style="dim")
            return label.append_text(self._item_label(item))
        return self._item_label(item)

    def _item_label(self, item: Vm | Commit) -> Text:
        if isinstance(item, Commit) and is_checkpoint(item):
            label = Text(
                f"{'u' if self.ascii_only else '↶'} ", style=theme_style(self._colours, "text-warning")
            )
            label.append(clean(short_id(item.id), 40))
            label.append(f"  {clean(checkpoint_title(checkpoint_info(item)), 80)} (u)", style="italic")
            return label
        if isinstance(item, Commit):
            return self._commit_label(item)
        colour = theme_style(self._colours, STATE_COLOURS[item.state])
        label = Text(f"{state_glyph(item.state, self.ascii_only)} ", style=colour)
        label.append(clean(short_id(item.display_name, 30), 40))
        if item.display_name != item.id:
            label.append(f" {clean(short_id(item.id), 40)}", style="dim")
        if self.here == item.key:
            label.append("  <- you are here" if self.ascii_only else "  ◀ you are here", style="bold reverse")
        return label

    def _commit_label(self, commit: Commit) -> Text:
        """`◆ id  name  3h  [tag, tag]  public`."""
        label = Text(f"{'o' if self.ascii_only else '◆'} ", style=theme_style(self._colours, "text-primary"))
        label.append(clean(short_id(commit.id), 40))
        if commit.title:
            label.append(f"  {clean(commit.title, 60)}", style="italic")
        if commit.created_at is not None:
            label.append(f"  {format_age(self.now() - commit.created_at.timestamp())}", style="dim")
        tags = self.tag_names.get((commit.provider, commit.id))
        if tags:
            label.append(f"  [{clean(', '.join(tags), 60)}]", style=theme_style(self._colours, "accent"))
        if commit.is_public:
            label.append("  public", style=theme_style(self._colours, "warning"))
        return label

    async def action_enter_node(self) -> None:
        """Enter: on "N more commits" load the next page, elsewhere describe the item."""
        node = self.cursor_node
        if node is not None and node.data is not None and node.data[1:] == (MORE,):
            self.post_message(self.LoadMore(node.data[0]))
        elif node is not None and node.data is not None and node.data[1:2] == ("fold",):
            self.toggle_fold(node.data)
        else:
            await self.run_action("screen.run('view.describe')")

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        node_id = event.node.data
        if node_id is not None and node_id[1:] == (MORE,):
            event.stop()
            self.post_message(self.LoadMore(node_id[0]))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        node_id = event.node.data
        self.post_message(self.ItemHighlighted(node_id, self.items.get(node_id) if node_id else None))


def _shapes(fleets: Mapping[str, Fleet], opened: Collection[NodeId]) -> list[Shape]:
    """Top-level shapes of every profile (pure: runs in a thread for big fleets). It only builds objects
    that live on or that reference counting frees, so collections in the middle (each a pass over
    the app's unfrozen objects, triggered by these allocations) would find nothing: they are paused,
    and the lineage's parent links are cut once shaped, so it goes without the collector too."""
    shapes: list[Shape] = []
    several = len(fleets) > 1
    for profile, fleet in fleets.items():
        with collector.paused():
            lineage = build_lineage(fleet.vms, fleet.commits)
            top = shape_lineage(profile, lineage, opened)
        for node in lineage.nodes.values():
            node.parent = None
        if fleet.commits_total > len(fleet.commits):
            top.append(
                Shape((profile, MORE), None, profile=profile, more=fleet.commits_total - len(fleet.commits))
            )
        shapes.extend([Shape((profile,), None, top, profile=profile)] if several else top)
    return shapes


class _Budget:
    """Says when a slice's time is used up (and starts the next one)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.perf_counter() + seconds

    def spend(self) -> bool:
        now = time.perf_counter()
        if now < self.ends:
            return False
        self.ends = now + self.seconds
        return True


def _descendants(node: TreeNode[NodeId]) -> list[TreeNode[NodeId]]:
    out: list[TreeNode[NodeId]] = []
    stack = list(node.children)
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(child.children)
    return out


def _same_shape_changes(
    before: dict[str, Fleet], after: dict[str, Fleet]
) -> list[tuple[NodeId, Vm | Commit]] | None:
    """The VMs and commits that changed between two snapshots listing the same ones in the same order
    with the same lineage (a state or a label changed), or None when the tree's shape may have changed.
    Poll results reuse unchanged objects, so this compares by identity first: a 1%-changed snapshot of
    10,000 VMs looks at 100 of them, without building the whole structure to compare."""
    if before.keys() != after.keys():
        return None
    changed: list[tuple[NodeId, Vm | Commit]] = []
    for profile, fleet in after.items():
        old = before[profile]
        if fleet.commits_total != old.commits_total:
            return None
        for kind, old_items, new_items in (
            (NodeKind.VM, old.vms, fleet.vms),
            (NodeKind.COMMIT, old.commits, fleet.commits),
        ):
            if old_items is new_items:
                continue
            if len(old_items) != len(new_items):
                return None
            for index in compress(range(len(new_items)), map(is_not, old_items, new_items)):  # C calls
                was, now = old_items[index], new_items[index]
                if _shape_of(was) != _shape_of(now):
                    return None
                changed.append(((profile, kind.value, now.id), now))
    return changed


def _shape_of(item: Vm | Commit) -> tuple:
    """What an item adds to the tree's shape."""
    if isinstance(item, Vm):
        return (item.id, item.parent_commit_id, item.grandparent_vm_id, item.created_at)
    return (item.id, item.parent_vm_id, item.grandparent_commit_id, item.created_at)
