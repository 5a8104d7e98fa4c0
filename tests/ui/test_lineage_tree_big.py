"""A big lineage is rebuilt in the background: the call returns at once and the tree fills in after."""

from __future__ import annotations

from rich.style import Style
from textual.app import App, ComposeResult

from vmtui.core.models import Commit, Fleet, Vm, VmState
from vmtui.ui.widgets.lineage_tree import SYNC_LIMIT, LineageTree

VMS = SYNC_LIMIT + 500
COMMITS = 50


def fleet(with_lineage: bool) -> Fleet:
    commits = tuple(Commit(provider="p", id=f"c{i}", parent_vm_id=f"vm{i}") for i in range(COMMITS))
    vms = tuple(
        Vm(
            provider="p",
            id=f"vm{i}",
            state=VmState.RUNNING,
            parent_commit_id=f"c{i % COMMITS}" if with_lineage and i >= COMMITS else None,
        )
        for i in range(VMS)
    )
    return Fleet(provider="p", vms=vms, commits=commits)


class TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineageTree()


async def test_big_lineage_fills_in_without_blocking_the_caller():
    app = TreeApp()
    async with app.run_test(size=(100, 30)) as pilot:
        tree = app.query_one(LineageTree)
        tree.set_fleets([fleet(with_lineage=False)])
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(tree.root.children) > VMS - COMMITS  # no lineage yet: the branched VMs are roots

        tree.set_fleets([fleet(with_lineage=True)])
        assert len(tree.root.children) > VMS - COMMITS  # the caller did not wait for the rebuild
        await app.workers.wait_for_complete()
        await pilot.pause()
        node = tree._tree_index[("p", "vm", f"vm{COMMITS + 7}")]
        assert node.parent is not None and node.parent.data == ("p", "commit", "c7")
        assert len(tree.root.children) <= COMMITS * 2
        assert len(tree.items) == VMS + COMMITS


async def test_label_widths_match_the_rendered_labels():
    """The tree measures labels without rendering them (every rebuild measures every line): the widths
    must be what rendering gives, folded, unfolded and leaf alike, or long lines would be cut off."""
    app = TreeApp()
    async with app.run_test(size=(100, 30)) as pilot:
        tree = app.query_one(LineageTree)
        tree.set_fleets([fleet(with_lineage=True)])
        await app.workers.wait_for_complete()
        await pilot.pause()
        nodes = list(tree._tree_index.values())
        next(node for node in nodes if node.allow_expand).collapse()
        kinds = {(node.allow_expand, node.allow_expand and node.is_expanded) for node in nodes}
        assert kinds == {(True, True), (True, False), (False, False)}  # unfolded, folded, leaf
        for node in nodes:
            assert tree.get_label_width(node) == tree.render_label(node, Style(), Style()).cell_len
