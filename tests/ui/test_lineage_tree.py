"""The lineage tree: linear runs flattened and folded, keyed nodes that keep expansion and cursor."""

from __future__ import annotations

from datetime import timedelta

from tests.ui.demo_provider import DEMO_NOW, DemoProvider, demo_provider
from tests.ui.helpers import make_app, poll_now, settle, text_of
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


def test_a_long_chain_nests_step_by_step_with_its_middle_folded():
    vms, commits = chain(10)  # 20 nodes in one line
    shapes = shape_lineage("p", build_lineage(vms, commits))
    assert list(flat(shapes)) == [
        (0, "vm0", 0),
        (1, "c0", 20 - CHAIN_KEEP),  # the fold, named after its first hidden step
        (2, "c8", 0),
        (3, "vm9", 0),
        (4, "c9", 0),
    ]  # at most CHAIN_KEEP + 1 levels, however long the chain
    fold = shapes[0].children[0]
    assert fold.hidden[0] == ("p", "commit", "c0") and len(fold.hidden) == 20 - CHAIN_KEEP


def test_an_opened_fold_lists_its_steps_one_level_deep_and_the_branches_hang_under_the_last():
    vms, commits = chain(10)
    vms.append(Vm(provider="p", id="side", state=VmState.RUNNING, parent_commit_id="c9", created_at=DEMO_NOW))
    vms.append(
        Vm(provider="p", id="other", state=VmState.RUNNING, parent_commit_id="c9", created_at=DEMO_NOW)
    )
    shapes = shape_lineage("p", build_lineage(vms, commits), opened={("p", "fold", "c0")})
    rows = list(flat(shapes))
    assert rows[:3] == [(0, "vm0", 0), (1, "c0", 20 - CHAIN_KEEP), (2, "c0", 0)]
    assert [depth for depth, _, _ in rows[2:21]] == [2] * 19  # c0 … c9: each listed after the one above
    assert [name for _, name, _ in rows[2:21]] == [
        step for i in range(10) for step in (f"c{i}", f"vm{i + 1}")
    ][:19]
    assert sorted(rows[21:]) == [(3, "other", 0), (3, "side", 0)]  # a branch point: real nesting
    assert all(step.listed for step in shapes[0].children[0].children)


def test_branch_points_nest_and_chains_nest_under_their_parent():
    provider = demo_provider()
    shapes = shape_lineage("local", build_lineage(provider.vms.values(), provider.commits.values()))
    assert list(flat(shapes)) == [
        (0, "vm-17c0ffee", 0),
        (0, "vm-3f2a91c0", 0),
        (1, "c-5b0e3d12", 0),  # build-base's commit: under it
        (2, "vm-8c1d77e4", 0),  # branch point: two VMs from this commit
        (3, "c-91aa04be", 0),  # the chain of that branch, step by step
        (4, "vm-d4e6f801", 0),
        (2, "vm-a90b2f6d", 0),
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


async def test_a_fold_opens_when_the_selected_vm_is_inside_and_enter_folds_it_again():
    vms, commits = chain(8)
    provider = DemoProvider("p", vms=vms, commits=commits)
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        fold = tree._tree_index[("p", "fold", "c0")]
        assert (
            "12 more steps (Enter lists)" in fold.label.plain and ("p", "vm", "vm3") not in tree._tree_index
        )
        assert [child.data for child in fold.children] == [("p", "commit", "c6")]  # the chain goes on
        table = app.main_screen.table
        table.select(("p", "vm3"))
        await pilot.pause()
        here = tree._tree_index[("p", "vm", "vm3")]
        assert here.parent is tree._tree_index[("p", "fold", "c0")]
        assert here.label.plain.startswith("↳ ") and "you are here" in here.label.plain
        await pilot.press("2")
        tree.move_cursor(tree._tree_index[("p", "fold", "c0")])
        await pilot.press("enter")
        await pilot.pause()
        assert ("p", "vm", "vm3") not in tree._tree_index  # folded again
        assert "more steps" in tree._tree_index[("p", "fold", "c0")].label.plain


async def test_several_profiles_get_one_root_each():
    first, second = demo_provider("alpha"), DemoProvider("beta", vms=[Vm(provider="beta", id="b1")])
    app = make_app(first, second)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        assert [child.data for child in tree.root.children] == [("alpha",), ("beta",)]
        assert app.main_screen.table.row_count == 6


async def test_the_selected_vm_deep_in_a_chain_is_on_screen_above_the_horizontal_scrollbar():
    """Its labels are wider than the pane at 80x24, so a horizontal scrollbar takes the pane's bottom
    row once the fold opens: the VM must still be in view, not under the scrollbar."""
    vms, commits = chain(100)
    app = make_app(DemoProvider("p", vms=vms, commits=commits))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.main_screen.table.select(("p", "vm50"))
        await pilot.pause()
        await pilot.pause()
        tree = app.main_screen.lineage
        line = tree._tree_index[("p", "vm", "vm50")].line
        top = tree.scroll_offset.y
        assert tree.show_horizontal_scrollbar
        assert top <= line < top + tree.scrollable_content_region.height


async def test_a_commit_with_the_name_vers_gives_unnamed_ones_shows_its_id_and_age_not_that_name():
    automatic = "commit: of_vm=vm-8c1d77e4 timestamp=2026-12-04T13:47:57Z"
    provider = demo_provider()
    provider.commits["c-auto0001"] = Commit(
        provider="local", id="c-auto0001", name=automatic, created_at=DEMO_NOW, parent_vm_id="vm-8c1d77e4"
    )
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        node = tree._tree_index[("local", "commit", "c-auto0001")]
        named = tree._tree_index[("local", "commit", "c-91aa04be")]
        assert "of_vm" not in node.label.plain and "c-auto00" in node.label.plain
        assert "tests green" in named.label.plain  # a name a person gave stays
        await pilot.press("2")
        tree.move_cursor(node)
        await pilot.pause()
        assert automatic in text_of(app.main_screen.query_one("#details-body"))  # the whole name is there
        await pilot.press("g")
        rows = [
            str(app.screen.graph.get_option_at_index(i).prompt) for i in range(app.screen.graph.option_count)
        ]
        [row] = [row for row in rows if "c-auto00" in row]
        assert "of_vm" not in row
