"""The TUI starts its local engine again when that engine dies, and says so; an engine the user
started is left alone (it is theirs to restart). Real engines in temp state dirs."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.ui.helpers import record_notes, settle, wait_until
from tests.ui.test_local_engine import engine_settings  # noqa: F401  (the fixture)
from vmtui.config import PollSettings
from vmtui.services.local_daemon import ensure_daemon, is_healthy, read_endpoint
from vmtui.services.registry import Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions

pytestmark = pytest.mark.root

POLL = PollSettings(fast=1, slow=1, max_backoff=2, timeout=30)


def engine_pid(settings) -> int:
    return json.loads((settings.profiles["local"].state_dir / "endpoint.json").read_text())["pid"]


def kill(pid: int) -> None:
    """SIGKILL: the engine dies without cleaning up, as in a crash (it runs detached: nothing to reap)."""
    os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_an_engine_the_tui_started_is_started_again_when_it_dies(engine_settings):  # noqa: F811
    app = record_notes(VmTuiApp(Registry(engine_settings).openers(["local"]), AppOptions(poll=POLL)))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app, timeout=120)
        fleet = app.main_screen.fleet
        assert fleet.results["local"].stale is False
        first = engine_pid(engine_settings)
        kill(first)

        restarted = "The local engine had stopped; vmtui started it again"
        await wait_until(pilot, lambda: any(note[1] == restarted for note in app.notes), "the restart notice")
        await wait_until(
            pilot, lambda: "local" not in fleet.offline() and "local" in fleet.results, "live again"
        )
        second = engine_pid(engine_settings)
        assert second != first and not alive(first) and alive(second)
        assert is_healthy(read_endpoint(engine_settings.profiles["local"].state_dir))
        await pilot.press("n")  # the platform actions work again: the form opens
        await pilot.pause()
        assert app.screen is not app.main_screen


async def test_an_engine_the_user_started_is_not_restarted(engine_settings):  # noqa: F811
    state_dir = engine_settings.profiles["local"].state_dir
    ensure_daemon(state_dir, timeout=120)  # the user's own `vmtui serve`
    first = engine_pid(engine_settings)
    app = record_notes(VmTuiApp(Registry(engine_settings).openers(["local"]), AppOptions(poll=POLL)))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app, timeout=120)
        fleet = app.main_screen.fleet
        kill(first)
        await wait_until(pilot, lambda: "local" in fleet.offline(), "the profile to go offline")
        assert app.main_screen.unavailable("vm.new") == "profile 'local' is offline"
        failures = fleet.results["local"].failures
        await wait_until(pilot, lambda: fleet.results["local"].failures >= failures + 2, "two more polls")
        assert read_endpoint(state_dir) is None or not is_healthy(read_endpoint(state_dir))
        assert not [note for note in app.notes if "started it again" in note[1]]
    (state_dir / "endpoint.json").unlink()  # the dead engine's: the fixture would start one to clean up
