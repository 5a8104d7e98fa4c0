"""`g`: the branch graph on a time axis — rows newest first with lanes, you-are-here on the selected VM,
keys to move, space to fold, Enter back to the main screen with the node selected there. And the tree's
"N more commits" node, which fetches the next page, and the tags shown on commits."""

from __future__ import annotations

from datetime import timedelta

from tests.ui.demo_provider import DEMO_NOW, demo_provider
from tests.ui.helpers import make_app, poll_now, settle, text_of, wait_actions
from vmtui.core.lineage import NodeKind, build_lineage
from vmtui.core.models import Commit
from vmtui.services.poller import COMMIT_PAGE
from vmtui.ui.screens.lineage_graph import LineageGraphScreen
from vmtui.ui.screens.main import MainScreen


def row_texts(screen: LineageGraphScreen) -> list[str]:
    graph = screen.graph
    return [str(graph.get_option_at_index(i).prompt) for i in range(graph.option_count)]


async def test_graph_in_time_order_folds_and_selects_a_commit_back_on_the_main_screen():
    app = make_app(demo_provider())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        here = app.main_screen.table.selected_vm
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, LineageGraphScreen)
        items = screen.items()
        stamps = [item.created_at for item in items]
        assert stamps == sorted(stamps, reverse=True) and len(items) == 7  # every VM and commit, newest first
        rows = row_texts(screen)
        [marked] = [row for row in rows if "you are here" in row]
        assert here.id in marked and screen.highlighted_node().item == here  # the cursor starts there
        toolchain = next(row for row in rows if "c-5b0e3d12" in row)
        assert toolchain.startswith("◆─┘") and "[stable]" in toolchain and "3h" in toolchain  # a join
        assert all(len(row) <= 78 for row in rows)

        index = next(i for i, item in enumerate(items) if item.id == "c-91aa04be")
        await pilot.press("home", *["down"] * index, "space")
        folded = next(row for row in row_texts(screen) if "c-91aa04be" in row)
        assert "(+1 folded)" in folded and len(screen.items()) == 6  # its one VM (experiment) is hidden
        assert screen.highlighted_node().id == "c-91aa04be"  # the cursor stays on it
        await pilot.press("space")
        assert len(screen.items()) == 7

        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        chosen = app.main_screen.lineage.selected_item()
        assert isinstance(chosen, Commit) and chosen.id == "c-91aa04be" and app.main_screen.lineage.has_focus
        assert "c-91aa04be" in text_of(app.main_screen.query_one("#details-body"))


async def test_graph_is_ascii_under_ascii_and_escape_goes_back():
    app = make_app(demo_provider(), ascii=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("g")
        rows = row_texts(app.screen)
        assert all(row.isascii() for row in rows), rows
        assert any(row.startswith("o-'") for row in rows) and any("<- you are here" in row for row in rows)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_the_tree_loads_more_commits_page_by_page_from_its_last_node():
    provider = demo_provider()
    for n in range(2 * COMMIT_PAGE + 50):
        commit_id = f"c-bulk{n:04}"
        provider.commits[commit_id] = Commit(
            provider="local",
            id=commit_id,
            parent_vm_id="vm-17c0ffee",
            created_at=DEMO_NOW - timedelta(hours=n),
        )
    total = len(provider.commits)
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        fleet = app.main_screen.fleet.fleet("local")
        assert (len(fleet.commits), fleet.commits_total) == (COMMIT_PAGE, total)
        more = tree._tree_index[("local", "more")]
        assert f"{total - COMMIT_PAGE} more commits" in str(more.label)

        await pilot.press("2")
        tree.move_cursor(more)
        await pilot.press("enter")
        await wait_actions(pilot, app)
        await poll_now(pilot, app)
        fleet = app.main_screen.fleet.fleet("local")
        assert len(fleet.commits) == 2 * COMMIT_PAGE
        assert f"{total - 2 * COMMIT_PAGE} more commits" in str(tree._tree_index[("local", "more")].label)
        assert ("", "Loading the next page of commits…", "information") in app.notes


async def test_selecting_a_vm_whose_commit_is_on_an_unfetched_page_looks_that_commit_up():
    provider = demo_provider()
    old = provider.commits.pop("c-91aa04be")  # the parent of `experiment`, now behind 100 newer commits
    for n in range(COMMIT_PAGE):
        commit_id = f"c-bulk{n:04}"
        provider.commits[commit_id] = Commit(provider="local", id=commit_id, parent_vm_id="vm-17c0ffee")
    provider.commits[old.id] = old
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage
        assert app.main_screen.table.selected_vm.id == "vm-d4e6f801"  # experiment: selected at start
        await wait_actions(pilot, app)
        assert [c for c in provider.calls if c[0] == "commit_parents"] == [("commit_parents", (old.id,))]
        assert ("local", "commit", old.id) in tree._tree_index
        fleet = app.main_screen.fleet.fleet("local")
        lineage = build_lineage(fleet.vms, fleet.commits)
        assert lineage.find(NodeKind.VM, "vm-d4e6f801").parent.id == old.id  # the path is whole


async def test_tags_show_on_their_commits_in_the_tree_and_follow_a_move():
    provider = demo_provider()
    app = make_app(provider)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        tree = app.main_screen.lineage

        def label(commit_id: str) -> str:
            return str(tree._tree_index[("local", "commit", commit_id)].label)

        assert "[stable]" in label("c-5b0e3d12") and "[" not in label("c-91aa04be")
        await provider.move_tag("stable", "c-91aa04be")
        await provider.create_tag("v1", "c-91aa04be")
        await poll_now(pilot, app)
        assert "[" not in label("c-5b0e3d12") and "[stable, v1]" in label("c-91aa04be")
