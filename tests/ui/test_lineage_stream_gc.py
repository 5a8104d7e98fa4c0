"""The app freezes what each applied snapshot built (Python's full collections walked 10,000-100,000 VMs'
rows and tree nodes for 0.2-1 s on the UI thread): what a newer snapshot replaces must still be freed,
the tree's lines must not need the collector, and closing the app unfreezes."""

from __future__ import annotations

import gc
import weakref

from textual.app import App, ComposeResult
from textual.widgets import Tree

from bench.bench_tui import PROFILE, MockVersApi
from tests.ui.helpers import make_app, wait_until
from vmtui.core.collector import collector
from vmtui.core.models import Commit, Fleet, Vm, VmState
from vmtui.ui.widgets.lineage_tree import LineageTree, _shapes

VMS = 150


async def test_a_vm_replaced_by_a_newer_snapshot_is_freed_although_its_snapshot_was_frozen(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    api = MockVersApi(VMS)
    app = make_app(api.provider())
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: screen.table.row_count == VMS, "VMs listed")
        await wait_until(pilot, lambda: screen.panes_ready and gc.get_freeze_count() > 0, "a snapshot frozen")
        flipped = api.vms[100]["vm_id"]  # not the selected row: the details pane holds that one
        old = weakref.ref(screen.table.vms[(PROFILE, flipped)])
        assert api.change_states(0) == 2
        screen.fleet.pollers[PROFILE].wake()
        await wait_until(pilot, lambda: screen.table.vms[(PROFILE, flipped)] is not old(), "the change shown")
        await wait_until(pilot, lambda: not screen.lineage.rebuilding, "the tree patched")
        await pilot.pause()
        assert gc.get_freeze_count() > 0
        gc.collect()  # frozen objects are never collected: only reference counting can have freed it
        assert old() is None, "the replaced VM is kept by a frozen reference cycle"
        await screen.fleet.pollers[PROFILE].provider.aclose()
    assert gc.get_freeze_count() == 0, "the closed app left its objects frozen"


class TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineageTree()


def branching_fleet(branches: int) -> Fleet:
    """vm0 → c0 → `branches` VMs, the first of them a long chain (which folds)."""
    vms = [Vm(provider="p", id="vm0", state=VmState.RUNNING)]
    commits = [Commit(provider="p", id="c0", parent_vm_id="vm0")]
    vms += [
        Vm(provider="p", id=f"b{index}", state=VmState.RUNNING, parent_commit_id="c0")
        for index in range(branches)
    ]
    for index in range(8):
        commits.append(Commit(provider="p", id=f"k{index}", parent_vm_id=f"k{index - 1}" if index else "b0"))
        vms.append(Vm(provider="p", id=f"k{index}", state=VmState.RUNNING, parent_commit_id=f"k{index}"))
    return Fleet(provider="p", vms=tuple(vms), commits=tuple(commits))


def lines_of(tree: LineageTree) -> list[tuple[object, bool, int]]:
    return [(line.node.data, line.last, len(line.path)) for line in tree._tree_lines]


async def test_the_trees_old_lines_are_freed_without_the_collector():
    """Textual's own line builder is a recursive closure, a cycle holding every line until a full
    collection; the tree's builder makes the same lines and frees the old ones as soon as new ones
    replace them."""
    app = TreeApp()
    async with app.run_test(size=(80, 20)) as pilot:
        tree = app.query_one(LineageTree)
        tree.set_fleets([branching_fleet(3)])
        await pilot.pause()
        with collector.paused():
            line = weakref.ref(tree._tree_lines[-1])
            tree.set_fleets([branching_fleet(4)])
            ours, width = lines_of(tree), tree.virtual_size
            assert line() is None, "the replaced lines wait for the cyclic collector"
        Tree._build(tree)  # Textual's own, for comparison
        assert ours == lines_of(tree) and width == tree.virtual_size
        assert len(ours) > 8 and {last for _, last, _ in ours} == {True, False}


def test_a_layout_leaves_no_garbage_for_the_collector():
    """The layout of a big lineage runs in a thread for every rebuild; its lineage (parent and child
    links: cycles) is freed by reference counting, not left for the next full collection."""
    fleet = branching_fleet(50)
    gc.collect()
    with collector.paused():
        shapes = _shapes({"p": fleet}, frozenset())
        assert len(shapes) == 1 and len(shapes[0].children) == 1
        del shapes
        assert gc.collect() == 0
