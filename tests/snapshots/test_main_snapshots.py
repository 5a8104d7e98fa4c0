"""SVG snapshots of every main state of the TUI, drawn over the in-memory demo provider.

Deterministic: demo provider data, a pinned clock, steady input cursors, fixed terminal sizes.
(The README screenshots come from the real engine instead: `python -m tools.screenshots DIR`.)
Update only after reading the report: `pytest tests/snapshots --snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.ui.demo_provider import DemoProvider, demo_provider
from tests.ui.helpers import make_app, poll_now, settle
from tools.screenshots import steady_cursors
from vmtui.core.errors import Unavailable
from vmtui.ui.app import VmTuiApp

Step = Callable[[Pilot, VmTuiApp], Awaitable[None]]


@dataclass(frozen=True)
class Scene:
    name: str
    size: tuple[int, int] = (120, 36)
    options: dict[str, object] = field(default_factory=dict)
    provider: Callable[[], DemoProvider] = demo_provider
    keys: tuple[str, ...] = ()
    before: Step | None = None
    also_shown: tuple[str, ...] = ()
    """Further demo profiles shown beside the first."""

    def app(self) -> VmTuiApp:
        return make_app(self.provider(), *(demo_provider(name) for name in self.also_shown), **self.options)

    async def run(self, pilot: Pilot, app: VmTuiApp) -> None:
        """Bring `app` into the scene's state (snap_compare's run_before)."""
        await steady_cursors(pilot, app, rounds=3)
        await settle(pilot, app)
        if self.before is not None:
            await self.before(pilot, app)
        if self.keys:
            await pilot.press(*self.keys)
        await pilot.pause()
        await steady_cursors(pilot, app)


async def _go_offline(pilot: Pilot, app: VmTuiApp) -> None:
    provider = app.actions.providers["local"]
    assert isinstance(provider, DemoProvider)
    provider.fail["list_vms"] = Unavailable("cannot reach http://127.0.0.1:7070: connection refused")
    await poll_now(pilot, app)


async def _type_filter(pilot: Pilot, app: VmTuiApp) -> None:
    await pilot.press("slash", *"label:env=ci")


async def _bad_create(pilot: Pilot, app: VmTuiApp) -> None:
    await pilot.press("n")
    await pilot.pause()
    app.screen.query_one("#vcpu", Input).value = "0"
    app.screen.query_one("#labels", Input).value = "env=dev,oops"
    await pilot.pause()


async def _open_palette(pilot: Pilot, app: VmTuiApp) -> None:
    """Open the palette and wait until its list is complete and no longer busy."""
    from textual.command import CommandList, CommandPalette

    await pilot.press("ctrl+p")
    expected = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        palette = app.screen
        if not isinstance(palette, CommandPalette):
            continue
        count = palette.query_one(CommandList).option_count
        if count and count == expected and not palette._show_busy:
            break
        expected = count


def _long_chain() -> DemoProvider:
    """vm0 -> c0 -> vm1 -> ... -> c99: a 200-step history in one line."""
    from tests.ui.test_lineage_tree import chain

    vms, commits = chain(100)
    return DemoProvider("p", vms=vms, commits=commits)


async def _select_mid_chain(pilot: Pilot, app: VmTuiApp) -> None:
    app.main_screen.table.select(("p", "vm50"))
    await pilot.pause()


async def _select_commit(pilot: Pilot, app: VmTuiApp) -> None:
    await pilot.press("2", "up", "up", "up")


SCENES: tuple[Scene, ...] = (
    Scene("main"),
    Scene("empty", provider=lambda: DemoProvider("local")),
    Scene("offline", before=_go_offline),
    Scene("filter", before=_type_filter),
    Scene("create-invalid", before=_bad_create),
    Scene("branch", keys=("down", "down", "b")),
    Scene("commit", keys=("down", "down", "c")),
    Scene("delete-confirm", keys=("down", "down", "down", "D")),
    Scene("help", keys=("question_mark",)),
    Scene("palette", before=_open_palette),
    Scene("images", keys=("i",)),
    Scene("tree-commit", before=_select_commit),
    Scene("narrow-80x24", size=(80, 24)),
    Scene("graph-80x24", size=(80, 24), keys=("g",)),
    Scene("tags", keys=("T",)),
    Scene("main-200x60", size=(200, 60)),
    Scene("create-80x24", size=(80, 24), keys=("n",)),
    Scene("create-200x60", size=(200, 60), keys=("n",)),
    Scene("create-two-profiles", also_shown=("other",), keys=("n",)),
    Scene("help-80x24", size=(80, 24), keys=("question_mark",)),
    Scene("help-200x60", size=(200, 60), keys=("question_mark",)),
    Scene("describe", keys=("down", "enter")),
    Scene("ascii", options={"ascii": True}),
    Scene("light", options={"theme": "textual-light"}),
    Scene("marked-sorted", keys=("N", "space", "down", "space")),
    Scene("bulk-delete-80x24", size=(80, 24), keys=("ctrl+a", "D")),
    Scene("bulk-delete-200x60", size=(200, 60), keys=("ctrl+a", "D")),
    Scene("long-chain-80x24", size=(80, 24), provider=_long_chain),
    Scene("long-chain-mid-80x24", size=(80, 24), provider=_long_chain, before=_select_mid_chain),
)


@pytest.mark.parametrize("scene", SCENES, ids=[scene.name for scene in SCENES])
def test_scene(scene, snap_compare):
    app = scene.app()

    async def run_before(pilot):
        await scene.run(pilot, app)

    assert snap_compare(app, terminal_size=scene.size, run_before=run_before)
