"""`python -m vmtui.ui.screenshots DIR`: SVG screenshots of the TUI's main states, drawn by the app.

The scenes run the real app over the demo provider with a fixed clock, so every run draws the
same pictures. The snapshot tests (tests/snapshots) replay the same scenes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from vmtui.core.errors import Unavailable
from vmtui.ui.app import AppOptions, PollOptions, VmTuiApp
from vmtui.ui.demo import DEMO_NOW, DemoProvider, demo_provider

FIXED_NOW = DEMO_NOW.timestamp()
"""The clock of every scene (ages and "data 0s ago" never change between runs)."""

Step = Callable[[Pilot, VmTuiApp], Awaitable[None]]


async def settle(pilot: Pilot, app: VmTuiApp, timeout: float = 60.0) -> None:
    """Wait until every profile delivered a poll result and no action is in flight."""
    main = app.main_screen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.01)
        if len(main.results) == len(main.shown) and not app.actions.pending:
            break
    await pilot.pause()


async def poll_now(pilot: Pilot, app: VmTuiApp) -> None:
    """Run one poll of every profile and let the UI apply it."""
    for poller in app.main_screen.pollers.values():
        await poller.tick()
    await pilot.pause()
    await pilot.pause()


def make_app(provider: DemoProvider, **options: object) -> VmTuiApp:
    """The app over one demo provider: pinned clock, polling left to the scene (60 s interval)."""

    async def open_provider(status: Callable[[str], None]) -> DemoProvider:
        return provider

    options.setdefault("now", lambda: FIXED_NOW)
    options.setdefault("poll", PollOptions(fast=60, slow=60, max_backoff=60, timeout=5))
    options.setdefault("active_profile", provider.name)
    return VmTuiApp({provider.name: open_provider}, AppOptions(**options))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scene:
    name: str
    size: tuple[int, int] = (120, 36)
    options: dict[str, object] = field(default_factory=dict)
    provider: Callable[[], DemoProvider] = demo_provider
    keys: tuple[str, ...] = ()
    before: Step | None = None

    def app(self) -> VmTuiApp:
        return make_app(self.provider(), **self.options)

    async def run(self, pilot: Pilot, app: VmTuiApp) -> None:
        """Bring `app` into the scene's state (used as snap_compare's run_before)."""
        for _ in range(3):  # input cursors: steady, so every picture is the same
            for box in app.screen.query(Input):
                box.cursor_blink = False
            await pilot.pause()
        await settle(pilot, app)
        if self.before is not None:
            await self.before(pilot, app)
        if self.keys:
            await pilot.press(*self.keys)
        await pilot.pause()
        for box in app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()


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
    Scene("ascii", options={"ascii": True}),
    Scene("light", options={"theme": "textual-light"}),
)


async def write_screenshots(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for scene in SCENES:
        app = scene.app()
        async with app.run_test(size=scene.size) as pilot:
            await scene.run(pilot, app)
            path = directory / f"{scene.name}.svg"
            app.save_screenshot(filename=path.name, path=str(directory))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m vmtui.ui.screenshots DIR", file=sys.stderr)
        return 2
    for path in asyncio.run(write_screenshots(Path(argv[0]))):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
