"""Shared test helpers for the UI: an app over demo providers with a pinned clock, no blink."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.ui.demo_provider import DEMO_NOW
from tools.screenshots import poll_now, settle  # noqa: F401  (re-exported for the tests)
from vmtui.config import PollSettings
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions

FIXED_NOW = DEMO_NOW.timestamp()


def opener(provider: Provider):
    async def open_provider(status):
        return provider

    return open_provider


def make_app(*providers: Provider, **options) -> VmTuiApp:
    """A VmTuiApp over ready providers. Polling is slow (60 s) so tests drive it explicitly."""
    options.setdefault("now", lambda: FIXED_NOW)
    options.setdefault("poll", PollSettings(fast=60, slow=60, max_backoff=60, timeout=5))
    options.setdefault("active_profile", providers[0].name)
    return record_notes(VmTuiApp({p.name: opener(p) for p in providers}, AppOptions(**options)))


class VersApi:
    """A Vers API in memory, as an `httpx.MockTransport` handler: the list (`/api/v1/vm` or `/vms`)
    answers `vms` once `before_list` (sync or async) has returned, the commits page `commits`,
    `/api/v1/vm/{id}/metadata` what `metadata(id)` returns (awaited), anything else 404."""

    def __init__(
        self,
        vms: list[dict[str, Any]],
        commits: list[dict[str, Any]] | None = None,
        metadata: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
        before_list: Callable[[], Any] | None = None,
    ):
        self.vms = vms
        self.commits = commits or []
        self.metadata = metadata
        self.before_list = before_list

    def provider(self, name: str = "big") -> VersProvider:
        return VersProvider(name, "https://api.vers.sh", "key", transport=httpx.MockTransport(self))

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/api/v1/vm", "/api/v1/vms"):
            waited = self.before_list() if self.before_list is not None else None
            if inspect.isawaitable(waited):
                await waited
            return httpx.Response(200, json=self.vms)
        if path == "/api/v1/commits":
            return httpx.Response(200, json={"commits": self.commits, "total": len(self.commits)})
        if self.metadata is not None and path.startswith("/api/v1/vm/") and path.endswith("/metadata"):
            return httpx.Response(200, json=await self.metadata(path.split("/")[4]))
        return httpx.Response(404, json={"error": "not found"})


def record_notes(app: VmTuiApp) -> VmTuiApp:
    """Keep every notification in `app.notes` as (title, message, severity); toasts expire, this doesn't."""
    app.notes = []
    notify = app.notify

    def recording_notify(message, *, title="", severity="information", **kwargs):
        app.notes.append((title, str(message), severity))
        return notify(message, title=title, severity=severity, **kwargs)

    app.notify = recording_notify
    return app


async def wait_actions(pilot, app: VmTuiApp) -> None:
    """Wait for every worker except the endless pollers, then let the UI catch up."""
    await pilot.pause()
    busy = [w for w in app.workers if w.group != "poll"]
    if busy:  # an empty list would mean "all workers", pollers included
        await app.workers.wait_for_complete(busy)
    await pilot.pause()


async def wait_until(pilot, predicate, what: str = "the condition", timeout: float = 120.0) -> None:
    """Let the app run until `predicate()` holds (no polling; for things the UI does on its own)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def text_of(widget) -> str:
    """The plain text a Static currently shows (Rich renderables rendered at a wide width)."""
    import io

    from rich.console import Console

    console = Console(width=300, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()
