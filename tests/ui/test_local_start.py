"""The TUI's way to its first rows from a REAL local engine (`vmtui serve` in a temp state dir): the
engine its endpoint file announces is listed at once (the list proves it answers), nothing else is asked
before the first list, and an announced engine that does not answer is found or started the checked way."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import httpx
import pytest

from tests.ui.helpers import record_notes, wait_until
from tests.ui.test_local_engine import engine_settings  # noqa: F401  (the fixture)
from vmtui.config import PollSettings
from vmtui.providers.http import system_trust
from vmtui.services.local_daemon import ensure_daemon, is_healthy, read_endpoint
from vmtui.services.registry import Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions

pytestmark = pytest.mark.root

POLL = PollSettings(fast=1, slow=1, max_backoff=2, timeout=30)


def record_requests(monkeypatch, app: VmTuiApp) -> list[tuple[str, str, bool]]:
    """Every request the process sends from now on, as (method, path, first list handed on yet)."""
    sent: list[tuple[str, str, bool]] = []
    send = httpx.AsyncClient.send

    async def recording_send(client, request, **kwargs):
        poller = app.main_screen.fleet.pollers.get("local")
        sent.append((request.method, request.url.path, poller is not None and poller.last.fleet is not None))
        return await send(client, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", recording_send)
    return sent


async def test_nothing_but_the_list_and_its_commits_is_asked_before_the_first_rows(
    engine_settings,  # noqa: F811
    monkeypatch,
):
    ensure_daemon(engine_settings.profiles["local"].state_dir, timeout=120)  # running, as the user left it
    system_trust.cache_clear()
    app = VmTuiApp(Registry(engine_settings).openers(["local"]), AppOptions(poll=POLL))
    sent = record_requests(monkeypatch, app)
    async with app.run_test(size=(120, 36)) as pilot:
        fleet = app.main_screen.fleet
        await wait_until(pilot, lambda: "local" in fleet.results, "the first list")
        await wait_until(pilot, lambda: fleet.pollers["local"].pushed, "the event stream")
        assert fleet.results["local"].stale is False
        before_rows = [(method, path) for method, path, shown in sent if not shown]
        assert before_rows == [("GET", "/api/v1/vm"), ("GET", "/api/v1/commits")]
        assert ("GET", "/api/v1/events", True) in sent  # subscribed once the first list was in
        # The provider trusts the engine's own CA: the system bundle (~75 ms to load) is never read.
        assert system_trust.cache_info().currsize == 0


@pytest.fixture
def stand_in():
    """A live process that is not an engine."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


async def test_an_announced_engine_that_does_not_answer_is_started_the_checked_way(
    stand_in,
    engine_settings,  # noqa: F811
):
    state_dir = engine_settings.profiles["local"].state_dir
    state_dir.mkdir(parents=True)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (state_dir / "token").write_text("t" * 40)
    announce = {"api_url": f"http://127.0.0.1:{port}", "token_file": str(state_dir / "token")}
    (state_dir / "endpoint.json").write_text(json.dumps({**announce, "pid": stand_in.pid}))
    app = record_notes(VmTuiApp(Registry(engine_settings).openers(["local"]), AppOptions(poll=POLL)))
    shown = []
    async with app.run_test(size=(120, 36)) as pilot:
        fleet = app.main_screen.fleet
        post = fleet.on_result
        fleet.on_result = lambda result: (shown.append(result), post(result))
        await wait_until(pilot, lambda: "local" in fleet.results, "the first list")
        assert fleet.results["local"].stale is False
        assert shown and not any(result.stale for result in shown)  # never shown offline meanwhile
        endpoint = read_endpoint(state_dir)
        assert endpoint is not None and endpoint.pid not in (None, stand_in.pid) and is_healthy(endpoint)
        assert not [note for note in app.notes if "started it again" in note[1]]  # as at any start
