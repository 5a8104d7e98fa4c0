"""Benchmarks of the TUI (VmTuiApp, headless), each against a bare Textual app measured in the same run.

Rows:
- cold start to a populated list: 100 VMs on the REAL local engine (`vmtui serve` for a temp state dir,
  needs root), the app opening it as `vmtui` does (`Registry`'s opener for a local profile), from
  constructing the app to the first frame that draws the 100 rows, vs a bare app with one DataTable
  filled from one httpx `GET /api/v1/vm` reaching the same point (`cold_start_rows`);
- CPU per unchanged poll at 1,000 and 10,000 VMs, measured two ways:
  * over real HTTP (the headline): `bench.fake_vers` in ANOTHER process on loopback (answers 304 to the
    list's `If-None-Match`, the same commits page each time) and the app's own poller running every
    `POLL_INTERVAL` s; the app process's CPU over a `poll_window` minus the same window with polling
    parked, divided by the polls made (`http_poll_rows`). Counted: httpx on both requests, the provider,
    the poller, the screen's handling of the result and every frame it causes, GC. Not counted: the fake
    server (its own process) and any test harness (nothing is awaited but a sleep). The bare app is
    measured the same way: a DataTable of as many rows polling the list with `If-None-Match` (one
    request, nothing done on 304);
  * in process (kept for comparison with earlier figures): `Poller.tick()` + waiting for the screen to
    record it + one `pilot.pause()`, with the mock API on an `httpx.MockTransport` in the same process,
    so its handler and the harness's pause (~3 ms) count too; vs the bare app's no-op refresh + pause;
- idle CPU at 1,000 and 10,000 VMs with the app's default 4 s poll running and nothing changing, vs the
  bare app idling the same time;
- time to apply a snapshot where 1% of 10,000 VMs changed state (the table's keyed diff plus the lineage
  tree, details and status bar), vs the bare app updating the state cell of 1% of its 10,000 rows;
- peak RSS holding 10,000 VMs vs the bare app holding a 10,000-row table, each in its own subprocess
  (`python -m bench.bench_tui peak-rss app|bare N`) so the peaks don't mix (see `peak_rss_kib`).

The mock server's JSON is encoded before the timed parts: its cost is not the client's. The poll, idle,
snapshot and RSS rows measure the steady state: the lineage cache is seeded with every VM's lineage, as
on a second start (`seeded_lineage_cache`), so no metadata request runs and the lineage tree is built
before anything is timed (the first start's enrichment is `bench_fleet`'s subject).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable

from bench.bare import PROFILE, SIZE, BareApp, get_vms, vm_cells
from bench.bench_fleet import cold_lineage_cache, fake_server
from bench.fake_vers import FakeVers, parent_commit
from vmtui.config import PollSettings, load_settings
from vmtui.core.models import Fleet, VmConfig, VmState
from vmtui.providers.base import Provider
from vmtui.providers.vers import VersProvider
from vmtui.services.lineage_cache import Lineage, LineageCache
from vmtui.services.local_daemon import ENDPOINT_FILE, LocalEndpoint, ensure_daemon
from vmtui.services.poller import PollResult
from vmtui.services.registry import ProfileOpener, Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.messages import FleetUpdated
from vmtui.ui.options import AppOptions
from vmtui.ui.widgets.vm_table import VmTable

ENGINE_VMS = 100
VM_COUNTS = (1_000, 10_000)
RSS_VMS = 10_000
ROUNDS = 5
APPLY_ROUNDS = 15
"""Snapshots applied for the 1%-changed rows (app and bare): each takes ~0.1 s, and a median of 5
swung 13-24 ms with the machine's load."""
COLD_ROUNDS = 9
IDLE_SECONDS = 20.0
"""Window of the idle measurement: with the default 4 s slow poll it holds five (unchanged) polls and
twenty ticks of the one-second status refresh."""
CHANGED_SHARE = 0.01
COMMITS = 100
HOLD = PollSettings(fast=3600, slow=3600, max_backoff=3600, timeout=120)
"""Polling parked after the first fetch, so the bench drives each poll itself."""
POLL_INTERVAL = 0.2
"""Seconds between the polls of the real-HTTP rows (the app's default is 4 s; only the count per window differs)."""
POLL_WINDOW = 5.0
"""Seconds of each polling window, and of each parked window subtracted from it."""
POLL_ROUNDS = 3
RATE_REFILL_SECONDS = 2.5
"""The engine's request budget (50/s, burst 100) refills after creating the VMs, as after a quiet moment."""
REPO_ROOT = Path(__file__).resolve().parent.parent
JSON = {"content-type": "application/json"}


# ------------------------------------------------------------------ a Vers API served from memory


class MockVersApi:
    """`count` VMs with lineage (100 roots, a commit of each, every later VM branched from one of those commits)
    as the Vers API answers them: `GET /vms`, `GET /vm/{id}/metadata`, paged `GET /commits`."""

    def __init__(self, count: int):
        self.vms = [self._vm(index) for index in range(count)]
        roots = min(COMMITS, count)
        self.commits = [
            {
                "commit_id": str(uuid.UUID(int=(1 << 64) + index)),
                "name": f"snapshot {index}",
                "owner_id": "bench-owner",
                "created_at": "2026-04-01T12:00:00Z",
                "parent_vm_id": self.vms[index]["vm_id"],
            }
            for index in range(roots)
        ]
        self.parents = {
            vm["vm_id"]: (self.commits[index % roots]["commit_id"] if index >= roots else None)
            for index, vm in enumerate(self.vms)
        }
        self.metadata_requests = 0
        self._commit_pages: dict[tuple[int, int], bytes] = {}
        self._encode()

    @staticmethod
    def _vm(index: int) -> dict[str, Any]:
        return {
            "vm_id": str(uuid.UUID(int=index + 1)),
            "owner_id": "bench-owner",
            "created_at": f"2026-04-{1 + index % 28:02d}T12:{index % 60:02d}:00Z",
            "state": "running" if index % 4 else "paused",
            "labels": {"team": f"t{index % 7}"} if index % 3 else None,
        }

    def _encode(self) -> None:
        self._list_body = json.dumps(self.vms).encode()

    def _commits_body(self, offset: int, limit: int) -> bytes:
        """A page of commits, encoded once (the commits never change)."""
        if (offset, limit) not in self._commit_pages:
            page = self.commits[offset : offset + limit]
            body = {"commits": page, "total": len(self.commits)}
            self._commit_pages[(offset, limit)] = json.dumps(body).encode()
        return self._commit_pages[(offset, limit)]

    def lineage(self) -> dict[str, Lineage]:
        """Every VM's lineage as `handle` gives its metadata (what the lineage cache holds after a first start)."""
        return {vm_id: Lineage(parent, None, "10.0.0.2") for vm_id, parent in self.parents.items()}

    def change_states(self, round_no: int, share: float = CHANGED_SHARE) -> int:
        """Flip running/paused of `share` of the VMs (different ones each round); returns how many."""
        step = round(1 / share)
        changed = 0
        for index in range(round_no % step, len(self.vms), step):
            vm = self.vms[index] = dict(self.vms[index])
            vm["state"] = "paused" if vm["state"] == "running" else "running"
            changed += 1
        self._encode()
        return changed

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/vms":
            return httpx.Response(200, content=self._list_body, headers=JSON)
        if path == "/api/v1/commits":
            offset = int(request.url.params.get("offset", 0))
            limit = int(request.url.params.get("limit", 100))
            return httpx.Response(200, content=self._commits_body(offset, limit), headers=JSON)
        parts = path.split("/")
        if path.startswith("/api/v1/vm/") and parts[-1] == "metadata" and len(parts) == 6:
            vm_id = parts[4]
            if vm_id in self.parents:
                self.metadata_requests += 1
                return httpx.Response(
                    200,
                    json={
                        "vm_id": vm_id,
                        "ip": "10.0.0.2",
                        "parent_commit_id": self.parents[vm_id],
                        "state": "running",
                    },
                )
        return httpx.Response(404, json={"error": "not found"})

    def provider(self) -> VersProvider:
        return VersProvider(
            PROFILE, "https://api.vers.sh", "bench-key", transport=httpx.MockTransport(self.handle)
        )


@contextmanager
def seeded_lineage_cache(api: MockVersApi) -> Iterator[None]:
    """A lineage cache holding every VM of `api`, as on a second start: the app begins in the steady
    state (no metadata request at all), so the idle and per-poll rows measure polling, not enrichment."""
    with cold_lineage_cache():
        provider = api.provider()
        LineageCache.for_profile(provider.name, provider.http.base_url).save(api.lineage())
        yield


def provider_opener(make: Callable[[], Provider]) -> Callable[[Callable[[str], None]], Any]:
    async def open_provider(_status: Callable[[str], None]) -> Provider:
        return make()

    return open_provider


# ------------------------------------------------------------------ the bare Textual baseline


class BareTableApp(BareApp):
    """`rows` static rows."""

    def __init__(self, rows: int):
        super().__init__()
        self.row_total = rows

    def fill(self, table: DataTable[str]) -> None:
        for index in range(self.row_total):
            table.add_row(
                PROFILE,
                str(uuid.UUID(int=index + 1)),
                "● running",
                "3mo",
                "-",
                f"team=t{index % 7}",
                key=str(index),
            )


class BareEngineApp(BareApp):
    """The minimal client of the local engine: the rows of one `GET /api/v1/vm` made with httpx, using the
    endpoint file's URL, token and CA (what any client must at least do)."""

    def __init__(self, state_dir: Path):
        super().__init__()
        self.state_dir = state_dir

    def fill(self, table: DataTable[str]) -> None:
        self.run_worker(self._load(table))

    async def _load(self, table: DataTable[str]) -> None:
        endpoint = json.loads((self.state_dir / ENDPOINT_FILE).read_text())
        token = Path(endpoint["token_file"]).read_text().strip()
        ca_path = endpoint.get("ca_path")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_path) if ca_path else True
        async with httpx.AsyncClient(verify=verify, headers={"Authorization": f"Bearer {token}"}) as client:
            response = await get_vms(client, f"{str(endpoint['api_url']).rstrip('/')}/api/v1/vm")
        table.add_rows(vm_cells(vm) for vm in response.json())


# ------------------------------------------------------------------ helpers


async def _until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.002) -> None:
    """Wait for `condition`; `poll=0` only yields to the loop, for wall-clock timings of UI work."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"benchmark condition not reached: {what}")
        await asyncio.sleep(poll)


async def _cpu_percent_idle(seconds: float) -> float:
    """CPU of the whole process (app, poller, mock server) while the loop runs and nothing changes."""
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)


def _row(name: str, value: float | None, unit: str, baseline: float | None) -> dict[str, Any]:
    ratio = value / baseline if value is not None and baseline else None
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}


def _app(openers: dict, poll: PollSettings = HOLD) -> VmTuiApp:
    return VmTuiApp(openers, AppOptions(active_profile=next(iter(openers)), poll=poll))


# ------------------------------------------------------------------ 1. cold start on the real engine


def _stop_daemon(state_dir: Path, timeout: float = 10.0) -> None:
    try:
        pid = json.loads((state_dir / ENDPOINT_FILE).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the local engine (pid {pid}) did not stop on SIGTERM")


def _engine_provider(endpoint: LocalEndpoint) -> VersProvider:
    """A client of the engine for creating and deleting the benchmark's VMs (untimed)."""
    ssh = (endpoint.ssh_host, endpoint.ssh_port) if endpoint.ssh_port else None
    return VersProvider(
        PROFILE,
        endpoint.api_url,
        endpoint.token,
        vm_domain=f"vm.{endpoint.domain}",
        ssh_address=ssh,
        ca_path=endpoint.ca_path,
        memory_snapshots=False,
        timeout=60,
    )


async def _create_vms(endpoint: LocalEndpoint, count: int) -> None:
    provider = _engine_provider(endpoint)
    gate = asyncio.Semaphore(4)

    async def create(index: int) -> None:
        async with gate:
            await provider.create_vm(VmConfig(labels={"bench": str(index)}))

    try:
        await asyncio.gather(*(create(index) for index in range(count)))
        deadline = time.monotonic() + 120
        while True:  # booted, so the timed start polls a quiet fleet
            vms = await provider.list_vms()
            if len(vms) >= count and not any(vm.state.is_transitional for vm in vms):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} VMs did not finish booting on the local engine")
            await asyncio.sleep(0.2)
    finally:
        await provider.aclose()


async def _delete_vms(endpoint: LocalEndpoint) -> None:
    provider = _engine_provider(endpoint)
    gate = asyncio.Semaphore(4)

    async def delete(vm_id: str) -> None:
        async with gate:
            await provider.delete_vm(vm_id)

    try:
        await asyncio.gather(*(delete(vm.id) for vm in await provider.list_vms()))
        if await provider.list_vms():
            raise RuntimeError("VMs survived the benchmark's cleanup on the local engine")
    finally:
        await provider.aclose()


def _local_opener(state_dir: Path) -> ProfileOpener:
    """The opener `vmtui` builds for a local profile of `state_dir` (read from a config file, as `vmtui`
    reads its own), so the benchmark takes the app's own way to the engine."""
    config = state_dir.parent / "config.toml"
    config.write_text(
        f'active = "{PROFILE}"\n[profiles.{PROFILE}]\nkind = "local"\nstate_dir = "{state_dir}"\n'
    )
    return Registry(load_settings(config, env={})).opener(PROFILE)


@contextmanager
def _first_paint(table_class: type[Widget], count: int) -> Iterator[list[tuple[float, float]]]:
    """Instrumentation: the `perf_counter` and `process_time` at which a `table_class` first draws a line
    while it holds `count` rows, i.e. the frame that puts them on screen (`render_line` wrapped for the
    duration)."""
    painted: list[tuple[float, float]] = []
    render_line = table_class.render_line

    def recording_render_line(table: Any, y: int) -> Any:
        if not painted and table.row_count >= count:
            painted.append((time.perf_counter(), time.process_time()))
        return render_line(table, y)

    table_class.render_line = recording_render_line  # type: ignore[method-assign]
    try:
        yield painted
    finally:
        table_class.render_line = render_line  # type: ignore[method-assign]


async def _cold_start(
    make_app: Callable[[], App[None]], table_class: type[Widget], count: int
) -> tuple[float, float]:
    """Seconds (wall, and this process's CPU) from constructing the app to the first frame that draws
    `count` rows in its table. The app runs headless on its own: no test harness waits for it to settle
    before the clock can stop. The CPU leaves out the engine (another process) and counts the wait's
    polling, the same for both apps."""
    with _first_paint(table_class, count) as painted:
        cpu = time.process_time()
        started = time.perf_counter()
        app = make_app()
        running = asyncio.create_task(app.run_async(headless=True, size=SIZE))
        try:
            await _until(lambda: bool(painted) or running.done(), 60, f"{count} rows on screen")
        finally:
            if isinstance(app, VmTuiApp) and PROFILE in app.main_screen.fleet.pollers:
                await app.main_screen.fleet.pollers[PROFILE].provider.aclose()
            app.exit()
            await running
    if not painted:
        raise RuntimeError(f"the app exited before {count} rows were on screen")
    return painted[0][0] - started, painted[0][1] - cpu


def cold_start_rows(count: int, rounds: int = COLD_ROUNDS) -> list[dict[str, Any]]:
    """The app with the opener `vmtui` builds for a local profile, vs `BareEngineApp`, alternated
    `rounds` times in this process; the ratio is the median of the rounds' ratios (each pair ran
    back to back, so a load burst hits both sides of it), the values the medians of each side. A second
    row gives the process CPU over the same span, the steadier figure on a loaded machine."""
    name = f"cold start to {count} VMs on screen (real local engine)"
    if os.geteuid() != 0:
        return [_row(f"{name}: skipped, the local engine needs root", None, "s", None)]
    with tempfile.TemporaryDirectory(prefix="vmtui-bench-") as workdir:
        state_dir = Path(workdir) / "engine"
        try:
            endpoint = ensure_daemon(state_dir)
            try:
                asyncio.run(_create_vms(endpoint, count))
                time.sleep(RATE_REFILL_SECONDS)
                apps, bares = [], []
                for _ in range(rounds):  # alternating, so both see the same machine load
                    make_app = partial(_app, {PROFILE: _local_opener(state_dir)})
                    apps.append(asyncio.run(_cold_start(make_app, VmTable, count)))
                    make_bare = partial(BareEngineApp, state_dir)
                    bares.append(asyncio.run(_cold_start(make_bare, DataTable, count)))
            finally:
                asyncio.run(_delete_vms(endpoint))
        finally:
            _stop_daemon(state_dir)
    rows = []
    for what, index in (("", 0), (", process CPU", 1)):
        app_values, bare_values = [run[index] for run in apps], [run[index] for run in bares]
        row = _row(
            f"{name}{what} vs bare DataTable fed by one httpx GET, median ratio of {rounds} pairs",
            statistics.median(app_values) * 1000,
            "ms",
            statistics.median(bare_values) * 1000,
        )
        row["ratio"] = statistics.median(a / b for a, b in zip(app_values, bare_values, strict=True))
        rows.append(row)
    return rows


APP_IMPORT = "from vmtui.__main__ import build_parser; build_parser(); import vmtui.cli.tui, vmtui.ui.app"
BARE_IMPORT = "import textual.app, textual.widgets; textual.widgets.DataTable"


def _import_seconds(statement: str) -> float:
    """Wall time of `statement` in a fresh interpreter (its own start excluded)."""
    timed = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    result = subprocess.run(
        [sys.executable, "-c", timed], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def import_rows(rounds: int = 7) -> list[dict[str, Any]]:
    """What `vmtui` imports before its first frame (CLI parsers, the app) vs Textual with a DataTable,
    alternating in fresh interpreters, medians."""
    app_seconds, bare_seconds = [], []
    for _ in range(rounds):
        app_seconds.append(_import_seconds(APP_IMPORT))
        bare_seconds.append(_import_seconds(BARE_IMPORT))
    return [
        _row(
            "TUI start imports (CLI + app) vs textual.app + DataTable",
            statistics.median(app_seconds) * 1000,
            "ms",
            statistics.median(bare_seconds) * 1000,
        )
    ]


# ------------------------------------------------------------------ 2a. unchanged polls over real HTTP


@contextmanager
def seeded_fake_lineage(url: str, count: int) -> Iterator[None]:
    """A lineage cache holding every VM `bench.fake_vers` serves at `url` (a second start: no metadata
    request, so the windows measure polling alone)."""
    fake = FakeVers(count, 0)
    lineage = {vm_id: Lineage(parent_commit(index, count), None, None) for vm_id, index in fake.index.items()}
    with cold_lineage_cache():
        LineageCache.for_profile(PROFILE, VersProvider(PROFILE, url, "bench-key").http.base_url).save(lineage)
        yield


class BarePollApp(BareApp):
    """The rows of one `GET /api/v1/vm`, then polling it with `If-None-Match` every `interval` s while
    `polling` is set; a 304 does nothing (the least a polling client does)."""

    def __init__(self, url: str, interval: float):
        super().__init__()
        self.url = url
        self.interval = interval
        self.polling = asyncio.Event()
        self.polls = 0
        self.row_total = 0

    def fill(self, table: DataTable[str]) -> None:
        self.run_worker(self._poll(table))

    async def _poll(self, table: DataTable[str]) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            response = await get_vms(client)
            etag = response.headers["etag"]
            table.add_rows(vm_cells(vm) for vm in json.loads(response.content))
            self.row_total = table.row_count
            while True:
                await self.polling.wait()
                await asyncio.sleep(self.interval)
                response = await client.get("/api/v1/vm", headers={"If-None-Match": etag})
                if response.status_code != 304:
                    raise RuntimeError(f"the bare app's poll was answered {response.status_code}, not 304")
                self.polls += 1


async def _polling_cpu_ms(
    start: Callable[[], None], park: Callable[[], None], polls: Callable[[], int], window: float
) -> float:
    """CPU ms of this process per poll: each round a parked window, then a polling window of the same
    length; (polling CPU - parked CPU) / polls made, median over `POLL_ROUNDS`."""
    per_poll = []
    for _ in range(POLL_ROUNDS):
        cpu = time.process_time()
        await asyncio.sleep(window)
        parked = time.process_time() - cpu
        start()
        await asyncio.sleep(POLL_INTERVAL * 2)  # the first poll after the wake is outside the window
        before, cpu = polls(), time.process_time()
        await asyncio.sleep(window)
        polling, made = time.process_time() - cpu, polls() - before
        park()
        await asyncio.sleep(POLL_INTERVAL * 2)  # a poll in flight ends before the parked window
        if made < 2:
            raise RuntimeError(f"only {made} polls in a {window:g} s window")
        per_poll.append((polling - parked) * 1000 / made)
    return statistics.median(per_poll)


async def _http_poll_app(url: str, count: int, window: float) -> float:
    frozen = time.time()  # the shown ages never move: no window repaints them (see `http_poll_rows`)
    app = VmTuiApp(
        {PROFILE: _http_opener(url)}, AppOptions(active_profile=PROFILE, poll=HOLD, now=lambda: frozen)
    )
    async with app.run_test(headless=True, size=SIZE) as pilot:
        screen = app.main_screen
        listed = lambda: screen.table.row_count == count and screen.panes_ready
        await _until(listed, 300, f"{count} VMs listed over HTTP")
        await _until(lambda: _lineage_complete(app), 300, f"lineage of {count} VMs")
        await pilot.pause()
        poller = screen.fleet.pollers[PROFILE]
        shown = screen.fleet.fleet(PROFILE)

        def start() -> None:
            poller.fast = poller.slow = POLL_INTERVAL
            poller.wake()

        def park() -> None:
            poller.fast = poller.slow = HOLD.slow
            poller.wake()  # one more poll, then the long wait

        cpu_ms = await _polling_cpu_ms(start, park, lambda: poller.ticks, window)
        latest = screen.fleet.fleet(PROFILE)
        if shown is None or latest is None or latest.vms is not shown.vms:
            raise RuntimeError("a poll changed the fleet: the windows did not measure unchanged polls")
        await poller.provider.aclose()
    return cpu_ms


async def _http_poll_bare(url: str, count: int, window: float) -> float:
    app = BarePollApp(url, POLL_INTERVAL)
    async with app.run_test(headless=True, size=SIZE) as pilot:
        await _until(lambda: app.row_total == count, 300, f"{count} bare rows")
        await pilot.pause()
        return await _polling_cpu_ms(app.polling.set, app.polling.clear, lambda: app.polls, window)


def _http_opener(url: str) -> Callable[[Callable[[str], None]], Any]:
    return provider_opener(lambda: VersProvider(PROFILE, url, "bench-key"))


def http_poll_rows(count: int, window: float = POLL_WINDOW) -> list[dict[str, Any]]:
    """CPU per unchanged poll over real HTTP (module docstring). The app's display clock is frozen in
    both its windows: otherwise the status bar's age would be repainted every second while parked and
    never while polling (always "0s ago"), and the difference would hide that cost. A real poll every
    4 s leaves that repaint count as it is (the age text moves on every second either way)."""
    with fake_server(count, rate=0) as server, seeded_fake_lineage(server.url, count):
        app = asyncio.run(_http_poll_app(server.url, count, window))
        stats = server.stats()
        bare = asyncio.run(_http_poll_bare(server.url, count, window))
    if stats.get("list", 0) - 1 != stats.get("list_304", 0):
        raise RuntimeError(f"the app's polls were not all answered 304: {stats}")
    return [
        _row(
            f"CPU per unchanged poll, {count:,} VMs, real HTTP, fake API in another process "
            f"(vs bare app's If-None-Match poll)",
            app,
            "ms CPU",
            bare,
        )
    ]


# ------------------------------------------------------------------ 2./3. polls, idle, 1% snapshot (mock Vers)


def _lineage_complete(app: VmTuiApp) -> bool:
    """Every VM's lineage is known and published, and the lineage tree has finished building from it."""
    result = app.main_screen.fleet.results.get(PROFILE)
    done = result is not None and result.fleet is not None and result.lineage is None
    screen = app.main_screen
    return (
        done and screen.panes_ready and not screen.lineage.rebuilding
    )  # the tree mounts after the first rows


async def _poll_cpu_ms(app: VmTuiApp, pilot: Pilot) -> float:
    """CPU of one poll applied by the UI: the poller's fetch and parse, the diff, the next frame."""
    screen = app.main_screen
    poller = screen.fleet.pollers[PROFILE]
    cpu = time.process_time()
    result = await poller.tick()
    await _until(lambda: screen.fleet.results.get(PROFILE) is result, 60, "poll applied")
    await pilot.pause()
    return (time.process_time() - cpu) * 1000


async def _apply(app: VmTuiApp, pilot: Pilot, api: MockVersApi, round_no: int) -> tuple[float, float]:
    """A 1%-changed snapshot handed to the screen: wall ms until its keyed diff is applied (the screen's
    handler ran), and CPU ms including the next frame. The fetch is done before, untimed."""
    screen = app.main_screen
    provider = screen.fleet.pollers[PROFILE].provider
    changed = api.change_states(round_no)
    enrichment = screen.fleet.pollers[PROFILE].enrichment
    vms = await provider.list_vms()
    vms = enrichment.apply(vms) if enrichment is not None else vms
    fleet = Fleet(
        provider=PROFILE, vms=tuple(vms), commits=tuple(await provider.list_commits()), fetched_at=time.time()
    )
    result = PollResult(PROFILE, fleet)
    cpu, started = time.process_time(), time.perf_counter()
    screen.post_message(FleetUpdated(result))
    await _until(lambda: screen.fleet.results.get(PROFILE) is result, 60, "snapshot applied", poll=0)
    wall = time.perf_counter() - started
    await pilot.pause()
    cpu = time.process_time() - cpu
    flipped = api.vms[round_no % round(1 / CHANGED_SHARE)]
    shown = screen.table.vms[(PROFILE, flipped["vm_id"])].state
    if changed != round(len(api.vms) * CHANGED_SHARE) or shown is not VmState.parse(flipped["state"]):
        raise RuntimeError("the changed snapshot did not reach the VM table")
    return wall * 1000, cpu * 1000


async def _measure_app(api: MockVersApi, with_apply: bool, idle_seconds: float) -> dict[str, float]:
    count = len(api.vms)
    app = _app({PROFILE: provider_opener(api.provider)})
    async with app.run_test(headless=True, size=SIZE) as pilot:
        await _until(lambda: app.main_screen.table.row_count == count, 300, f"{count} VMs listed")
        await _until(lambda: _lineage_complete(app), 300, f"lineage of {count} VMs")
        await pilot.pause()
        if api.metadata_requests:
            raise RuntimeError(f"{api.metadata_requests} metadata requests with every lineage cached")
        figures = {"poll": statistics.median([await _poll_cpu_ms(app, pilot) for _ in range(ROUNDS)])}
        if with_apply:
            applied = [await _apply(app, pilot, api, round_no) for round_no in range(APPLY_ROUNDS)]
            figures["apply"] = statistics.median(wall for wall, _ in applied)
            figures["apply_cpu"] = statistics.median(cpu for _, cpu in applied)
        poller = app.main_screen.fleet.pollers[PROFILE]
        defaults = PollSettings()
        poller.fast, poller.slow = defaults.fast, defaults.slow
        ticks, shown = poller.ticks, app.main_screen.fleet.results.get(PROFILE)
        poller.wake()  # the parked wait ends; from now on it polls every 4 s, as the app does by default
        await _until(lambda: app.main_screen.fleet.results.get(PROFILE) is not shown, 60, "default polling")
        await pilot.pause()
        figures["idle"] = await _cpu_percent_idle(idle_seconds)
        figures["idle_polls"] = poller.ticks - ticks - 1
        await poller.provider.aclose()
    return figures


async def _measure_bare(count: int, with_apply: bool, idle_seconds: float) -> dict[str, float]:
    app = BareTableApp(count)
    async with app.run_test(headless=True, size=SIZE) as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        refreshes = []
        for _ in range(ROUNDS):
            cpu = time.process_time()
            table.refresh()
            await pilot.pause()
            refreshes.append((time.process_time() - cpu) * 1000)
        figures = {"poll": statistics.median(refreshes)}
        if with_apply:
            walls, cpus = [], []
            step = round(1 / CHANGED_SHARE)
            for round_no in range(APPLY_ROUNDS):
                cpu, started = time.process_time(), time.perf_counter()
                for index in range(round_no % step, count, step):
                    table.update_cell(str(index), "state", f"● paused {round_no}")
                walls.append((time.perf_counter() - started) * 1000)
                await pilot.pause()
                cpus.append((time.process_time() - cpu) * 1000)
            figures["apply"], figures["apply_cpu"] = statistics.median(walls), statistics.median(cpus)
        figures["idle"] = await _cpu_percent_idle(idle_seconds)
    return figures


def fleet_rows(
    count: int, with_apply: bool, idle_seconds: float = IDLE_SECONDS, poll_window: float = POLL_WINDOW
) -> list[dict[str, Any]]:
    api = MockVersApi(count)
    with seeded_lineage_cache(api):
        app = asyncio.run(_measure_app(api, with_apply, idle_seconds))
    bare = asyncio.run(_measure_bare(count, with_apply, idle_seconds))
    rows = http_poll_rows(count, poll_window) + [
        _row(
            f"CPU per unchanged poll, {count:,} VMs, in process: mock API handler + harness pause "
            "included (vs bare no-op refresh + pause)",
            app["poll"],
            "ms CPU",
            bare["poll"],
        ),
        _row(
            f"idle CPU, {count:,} VMs, 4 s polls ({app['idle_polls']:.0f} in {idle_seconds:g} s; vs bare idle)",
            app["idle"],
            "% of a core",
            bare["idle"],
        ),
    ]
    if with_apply:
        rows += [
            _row(
                f"apply 1%-changed snapshot, {count:,} VMs: keyed diff (vs bare 1% update_cell)",
                app["apply"],
                "ms",
                bare["apply"],
            ),
            _row(
                f"apply 1%-changed snapshot, {count:,} VMs, incl. next frame (vs bare)",
                app["apply_cpu"],
                "ms CPU",
                bare["apply_cpu"],
            ),
        ]
    return rows


# ------------------------------------------------------------------ 4. peak RSS, one subprocess per case


def _row_count(app: App[None]) -> int:
    """Rows shown by the VM table of a VmTuiApp, or by the bare app's table."""
    if isinstance(app, VmTuiApp):
        return app.main_screen.table.row_count if app.main_screen.is_attached else 0
    return app.query_one(DataTable).row_count


async def _hold(kind: str, count: int) -> None:
    if kind == "app":
        app: App[None] = _app({PROFILE: provider_opener(MockVersApi(count).provider)})
    else:
        app = BareTableApp(count)
    async with app.run_test(headless=True, size=SIZE) as pilot:
        await _until(lambda: _row_count(app) == count, 300, f"{count} rows held")
        if isinstance(app, VmTuiApp):
            await _until(lambda: _lineage_complete(app), 300, f"lineage of {count} VMs held")
        await pilot.pause()
        if isinstance(app, VmTuiApp):
            await app.main_screen.fleet.pollers[PROFILE].provider.aclose()


def peak_rss_kib() -> float:
    """This process's peak RSS. `ru_maxrss` survives fork+exec on Linux (a child of the big benchmark
    process would report the parent's peak), so the exec'd image's own high-water mark `VmHWM` is used
    where /proc has it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mb(kind: str, count: int) -> float:
    """Peak RSS (MB) of a fresh interpreter holding `count` rows in the app (every lineage cached) or the
    bare table."""
    with seeded_lineage_cache(MockVersApi(count)):
        result = subprocess.run(
            [sys.executable, "-m", "bench.bench_tui", "peak-rss", kind, str(count)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"peak-rss {kind} failed: {result.stderr.strip().splitlines()[-1:]}")
    return float(result.stdout.strip().splitlines()[-1])


def rss_rows(count: int) -> list[dict[str, Any]]:
    return [
        _row(
            f"peak RSS holding {count:,} VMs (vs bare {count:,}-row DataTable)",
            peak_rss_mb("app", count),
            "MB",
            peak_rss_mb("bare", count),
        )
    ]


def run(
    engine_vms: int = ENGINE_VMS,
    vm_counts: tuple[int, ...] = VM_COUNTS,
    rss_vms: int = RSS_VMS,
    idle_seconds: float = IDLE_SECONDS,
    poll_window: float = POLL_WINDOW,
) -> list[dict[str, Any]]:
    """Every row; the sizes are parameters so a test can run a scaled-down copy (0 skips a part)."""
    rows = import_rows() + (cold_start_rows(engine_vms) if engine_vms else [])
    for count in vm_counts:
        rows += fleet_rows(count, count == max(vm_counts), idle_seconds, poll_window)
    if rss_vms:
        rows += rss_rows(rss_vms)
    return rows


def _main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "peak-rss" and argv[1] in ("app", "bare"):
        asyncio.run(_hold(argv[1], int(argv[2])))
        print(peak_rss_kib() / 1024)
        return 0
    if not argv:
        for row in run():
            print(row)
        return 0
    print("usage: python -m bench.bench_tui [peak-rss app|bare COUNT]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
