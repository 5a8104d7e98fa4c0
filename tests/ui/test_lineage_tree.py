"""The lineage tree: linear runs flattened and folded, keyed nodes that keep expansion and cursor."""

from __future__ import annotations

from datetime import timedelta

from tests.ui.demo_provider import DEMO_NOW, DemoProvider, demo_provider
from tests.ui.helpers import make_app, poll_now, settle
from vmtui.core.lineage import build_lineage
from vmtui.core.models import Commit, Vm, VmState
from vmtui.ui.widgets.lineage_tree import CHAIN_KEEP, shape_lineage


def chain(length: int) -> tuple[list[Vm], list[Commit]]:
    """vm0 -> c0 -> vm1 -> c1 -> ... : a long linear history (2 * length nodes)."""
    vms, commits = [], []
    for i in range(length):
        at = DEMO_NOW + timedelta(minutes=2 * i)
        vms.append(
            Vm(
                provider="p",
                id=f"vm{i}",
                state=VmState.RUNNING,
                created_at=at,
                parent_commit_id=f"c{i - 1}" if i else None,
            )
        )
        commits.append(
            Commit(provider="p", id=f"c{i}", parent_vm_id=f"vm{i}", created_at=at + timedelta(minutes=1))
        )
    return vms, commits


def flat(shapes, depth=0):
    for shape in shapes:
        yield depth, shape.node_id[-1], shape.folded
        yield from flat(shape.children, depth + 1)


def test_a_long_linear_chain_is_one_level_with_its_middle_folded():
    vms, commits = chain(10)  # 20 nodes in one line
    shapes = shape_lineage("p", build_lineage(vms, commits))
    top = [(s.node_id[-1], s.folded) for s in shapes]
    assert len(shapes) == CHAIN_KEEP + 1
    assert top[0] == ("vm0", 0) and top[1] == ("c0", 20 - CHAIN_KEEP)  # fold named after its first node
    assert [name for name, _ in top[2:]] == ["vm8", "c8", "vm9", "c9"][-(CHAIN_KEEP - 1) :]
    hidden = [s.node_id[-1] for s in shapes[1].children]
    assert (
        hidden[0] == "c0"
        and len(hidden) == 20 - CHAIN_KEEP
        and not any(s.children for s in shapes[1].children)
    )


def test_branch_points_nest_and_short_runs_stay_flat():
    provider = demo_provider()
    shapes = shape_lineage("local", build_lineage(provider.vms.values(), provider.commits.values()))
    assert list(flat(shapes)) == [
        (0, "vm-17c0ffee", 0),
        (0, "vm-3f2a91c0", 0),
        (0, "c-5b0e3d12", 0),  # branch point: two VMs from this commit
        (1, "vm-8c1d77e4", 0),
        (2, "c-91aa04be", 0),  # the rest of that branch's run, one level
        (2, "vm-d4e6f801", 0),
        (1, "vm-a90b2f6d", 0),
    ]


async def test_refresh_keeps_expansion_cursor_and_marks_you_are_here():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        commit_node = tree._tree_index[("local", "commit", "c-5b0e3d12")]
        runner_node = tree._tree_index[("local", "vm", "vm-8c1d77e4")]
        runner_node.collapse()
        await pilot.press("2")
        tree.move_cursor(commit_node)
        await pilot.pause()
        provider.vms["vm-new"] = Vm(
            provider="local",
            id="vm-new",
            state=VmState.BOOTING,
            created_at=DEMO_NOW,
            parent_commit_id="c-5b0e3d12",
        )
        await poll_now(pilot, app)
        assert tree._tree_index[("local", "commit", "c-5b0e3d12")] is commit_node  # same node, patched
        assert not runner_node.is_expanded  # the user's collapse survived
        assert tree.cursor_node is commit_node
        assert ("local", "vm", "vm-new") in [c.data for c in commit_node.children]
        await pilot.press("1")
        for vm_id in ("vm-a90b2f6d", "vm-d4e6f801"):
            app.main_screen.table.select(("local", vm_id))
            await pilot.pause()
        label = tree._tree_index[("local", "vm", "vm-d4e6f801")].label.plain
        assert "you are here" in label
        assert runner_node.is_expanded  # revealed: the marked VM lives under it


async def test_folded_chain_opens_when_the_selected_vm_is_inside():
    vms, commits = chain(8)
    provider = DemoProvider("p", vms=vms, commits=commits)
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        fold = tree._tree_index[("p", "fold", "c0")]
        assert not fold.is_expanded and "more steps" in fold.label.plain
        table = app.main_screen.table
        table.select(("p", "vm3"))
        await pilot.pause()
        assert fold.is_expanded


async def test_several_profiles_get_one_root_each():
    first, second = demo_provider("alpha"), DemoProvider("beta", vms=[Vm(provider="beta", id="b1")])
    app = make_app(first, second)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        assert [child.data for child in tree.root.children] == [("alpha",), ("beta",)]
        assert app.main_screen.table.row_count == 6
