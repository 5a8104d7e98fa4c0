"""`python -m tools.screenshots DIR`: the README screenshots, drawn by the real app on a real engine.

It starts `vmtui serve` for a temporary state dir, builds a small fleet through the engine's API
(`web` and `db` roots, a commit of `web` branched into two VMs, `db` paused), drives the app with
keys into each state and saves one SVG per state. At the end it deletes the VMs, stops the engine
and checks that none of the VMs' processes is left. Ids and ages differ from run to run.
Needs root: the engine's VMs are Linux namespaces.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Sparkline
from textual_diff_view import DiffView

from vmtui.config import PollSettings, Settings, load_settings
from vmtui.core.errors import ProviderError
from vmtui.core.models import VmConfig, VmState
from vmtui.providers.base import CommitTagsApi, Provider
from vmtui.services.local_daemon import ENDPOINT_FILE, ensure_daemon
from vmtui.services.registry import Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.file_diff import FileDiffScreen
from vmtui.ui.widgets.terminal_pane import TerminalPane

PROFILE = "local"
SHELL_COMMAND = "uname -a; ls /"
SCRATCH_COMMAND = "cat /srv/app/config.toml; rm -rf /srv/app  # a copy: web keeps its files"
APP_CONFIG = (
    "mkdir -p /srv/app && printf 'port = 8080\\nworkers = 4\\nlog = \"info\"\\n' > /srv/app/config.toml"
)
APP_CHANGE = (
    "printf 'port = 8080\\nworkers = 8\\nlog = \"debug\"\\ncache = true\\n' > /srv/app/config.toml"
    " && head -c 4096 /dev/urandom > /srv/app/cache.db && rm /etc/motd 2>/dev/null; true"
)
WAIT_S = 60.0


async def settle(pilot: Pilot, app: VmTuiApp, timeout: float = 60.0) -> None:
    """Wait until every profile delivered a poll result, the main screen's panes are all mounted and
    no action is in flight."""
    screen = app.main_screen
    fleet = screen.fleet
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.01)
        if len(fleet.results) == len(fleet.shown) and screen.panes_ready and not app.actions.pending:
            break
    await pilot.pause()


async def poll_now(pilot: Pilot, app: VmTuiApp) -> None:
    """Run one poll of every profile and let the UI apply it."""
    for poller in app.main_screen.fleet.pollers.values():
        await poller.tick()
    await pilot.pause()
    await pilot.pause()


async def steady_cursors(pilot: Pilot, app: VmTuiApp, rounds: int = 1) -> None:
    """Stop the input cursors blinking, so a picture never catches one half-way."""
    for _ in range(rounds):
        for box in app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()


class ScreenshotSession:
    """One engine with one small fleet, and the app scenes drawn over it into `directory`."""

    def __init__(self, directory: Path, work: Path):
        self.directory = directory
        self.state_dir = work / "engine"
        config = work / "config.toml"
        config.write_text(
            f'active = "{PROFILE}"\n[profiles.{PROFILE}]\nkind = "local"\nstate_dir = "{self.state_dir}"\n'
        )
        self.settings: Settings = load_settings(config)
        self.written: list[Path] = []
        self.ids: dict[str, str] = {}

    # ------------------------------------------------------------------ engine and fleet

    async def build_fleet(self, provider: Provider) -> None:
        """web -> commit (tagged `stable`) -> two branches; db paused. Waits until no VM is still booting."""
        web = await provider.create_vm(VmConfig(labels={"name": "web", "tier": "frontend"}), wait_boot=True)
        db = await provider.create_vm(VmConfig(labels={"name": "db", "tier": "storage"}), wait_boot=True)
        await self._sh(provider, web, APP_CONFIG)
        commit = await provider.commit(web, name="web configured")
        branches = await provider.branch(commit, 2)
        await self._sh(provider, branches[0], APP_CHANGE)
        if isinstance(provider, CommitTagsApi):
            await provider.create_tag("stable", commit, "the configured web server")
        await provider.pause_vm(db)
        self.ids = {"web": web, "db": db, "branch": branches[0], "spare": branches[1], "commit": commit}
        deadline = time.monotonic() + WAIT_S
        while any(vm.state is VmState.BOOTING for vm in await provider.list_vms()):
            if time.monotonic() > deadline:
                raise RuntimeError("the branched VMs did not finish booting")
            await asyncio.sleep(0.2)

    @staticmethod
    async def _sh(provider: Provider, vm_id: str, script: str) -> None:
        result = await provider.exec(vm_id, ["sh", "-c", script])
        if result.exit_code != 0:
            raise RuntimeError(f"setting up the fleet failed: {result.stderr.strip()[-200:]}")

    async def tear_down(self) -> None:
        """Delete every VM of the engine, stop it, and fail if one of its VMs' processes survived."""
        endpoint = self.state_dir / ENDPOINT_FILE
        if not endpoint.exists():
            return
        daemon = json.loads(endpoint.read_text())["pid"]
        vm_processes = _vm_processes(daemon)
        provider = await self.open_provider()
        try:
            for vm in await provider.list_vms():
                await provider.delete_vm(vm.id)
        finally:
            await provider.aclose()
        os.kill(daemon, signal.SIGTERM)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and any(map(_alive, (daemon, *vm_processes))):
            await asyncio.sleep(0.1)
        left = [pid for pid in (daemon, *vm_processes) if _alive(pid)]
        if left:
            raise RuntimeError(f"processes of the engine in {self.state_dir} are still running: {left}")

    async def open_provider(self) -> Provider:
        return await Registry(self.settings).opener(PROFILE)(lambda _status: None)

    # ------------------------------------------------------------------ scenes

    def app(self, **options: object) -> VmTuiApp:
        poll = PollSettings(fast=30, slow=30, max_backoff=30, timeout=30)  # the scenes poll explicitly
        return VmTuiApp(Registry(self.settings).openers([PROFILE]), AppOptions(poll=poll, **options))  # type: ignore[arg-type]

    async def shoot(self, pilot: Pilot, app: VmTuiApp, name: str) -> None:
        await steady_cursors(pilot, app, rounds=2)
        path = self.directory / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(self.directory))
        self.written.append(path)

    async def ready(self, pilot: Pilot, app: VmTuiApp) -> None:
        """The fleet on screen, the cursor on `web`."""
        await settle(pilot, app)
        await poll_now(pilot, app)
        if not app.main_screen.table.select((PROFILE, self.ids["web"])):
            raise RuntimeError("the VM list does not show the web VM")
        await pilot.pause()

    async def main_scenes(self) -> None:
        app = self.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await self.ready(pilot, app)
            await self.shoot(pilot, app, "main")
            for name, key in (
                ("help", "question_mark"),
                ("create", "n"),
                ("delete-confirm", "D"),
                ("images", "i"),
                ("graph", "g"),
                ("tags", "T"),
            ):
                await pilot.press(key)
                await pilot.pause(0.3)
                await self.shoot(pilot, app, name)
                await pilot.press("escape")
                await pilot.pause()
            await pilot.press("slash", *"state:running")
            await pilot.pause(0.3)
            await self.shoot(pilot, app, "filter")
            await pilot.press("escape")
            await self.terminal_scenes(pilot, app)

    async def terminal_scenes(self, pilot: Pilot, app: VmTuiApp) -> None:
        await self.ready(pilot, app)
        await pilot.press("s")
        await self._shell_output(pilot, app, typed=SHELL_COMMAND, expect=("Linux", "bin"))
        await self.shoot(pilot, app, "terminal")
        await pilot.press("ctrl+right_square_bracket", "S")  # leave the shell, maximise its pane
        await pilot.pause(0.3)
        await self.shoot(pilot, app, "terminal-zoomed")

    async def _shell_output(self, pilot: Pilot, app: VmTuiApp, typed: str, expect: tuple[str, ...]) -> None:
        """Wait for the shell's prompt, type `typed`, wait until the screen shows every `expect`."""
        deadline = time.monotonic() + WAIT_S
        sent = False
        text = ""
        while time.monotonic() < deadline:
            await pilot.pause(0.2)
            panes = list(app.main_screen.query(TerminalPane))
            emulator = panes[0].emulator if panes else None
            text = "\n".join(emulator.screen_text()) if emulator else ""
            if sent and all(word in text for word in expect):
                await pilot.pause(0.3)
                return
            if not sent and text.rstrip().endswith(("#", "$")):
                await pilot.press(*typed, "enter")
                sent = True
        raise RuntimeError(f"the terminal pane never showed the shell's output; it shows:\n{text}")

    @staticmethod
    async def actions_done(pilot: Pilot, app: VmTuiApp) -> None:
        """Wait for the actions started by keys (not the pollers: an empty list would mean every worker)."""
        await pilot.pause()
        running = [worker for worker in app.workers if worker.group == "actions"]
        if running:
            await app.workers.wait_for_complete(running)
        await pilot.pause()

    async def resources_scene(self, pilot: Pilot, app: VmTuiApp) -> None:
        """The details pane scrolled to its graphs, once the selected VM's sparklines hold a few samples
        (graphs out of view are not redrawn, so scroll first)."""
        details = app.main_screen.query_one("#details")
        await pilot.press("3")
        details.scroll_end(animate=False)
        memory = app.main_screen.query_one("#memory-graph", Sparkline)
        deadline = time.monotonic() + WAIT_S
        while len(memory.data or []) < 4:
            if time.monotonic() > deadline:
                raise RuntimeError("the details pane's sparklines were never sampled")
            await pilot.pause(0.5)
        await pilot.pause(0.3)
        await self.shoot(pilot, app, "resources")
        await pilot.press("1")
        await pilot.pause()

    async def action_log_scene(self) -> None:
        """Three changes made by keys, then `L` lists them."""
        app = self.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await self.ready(pilot, app)
            await self.resources_scene(pilot, app)
            await pilot.press("c", *"nightly", "enter")
            await self.actions_done(pilot, app)
            if not app.main_screen.table.select((PROFILE, self.ids["db"])):
                raise RuntimeError("the VM list does not show the db VM")
            for _ in range(2):  # resume db, then pause it again
                await pilot.press("p")
                await self.actions_done(pilot, app)
                await poll_now(pilot, app)
            await pilot.press("L")
            await pilot.pause(0.3)
            await self.shoot(pilot, app, "action-log")

    async def file_diff_scene(self) -> None:
        """`d` on the branch that changed the app's config since the commit it started from."""
        app = self.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await self.ready(pilot, app)
            if not app.main_screen.table.select((PROFILE, self.ids["branch"])):
                raise RuntimeError("the VM list does not show the branch")
            await pilot.pause()
            await pilot.press("d")
            deadline = time.monotonic() + WAIT_S
            while not isinstance(app.screen, FileDiffScreen) or app.screen.result is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("the file diff never showed")
                await pilot.pause(0.2)
            screen = app.screen
            rows = [str(screen.table.get_row_at(n)[-1]) for n in range(screen.table.row_count)]
            screen.table.move_cursor(row=rows.index("/srv/app/config.toml"))
            while not screen.query(DiffView):
                if time.monotonic() > deadline:
                    raise RuntimeError("the text diff never showed")
                await pilot.pause(0.2)
            await pilot.pause(0.5)
            await self.shoot(pilot, app, "file-diff")

    async def ops_scenes(self) -> None:
        """`x` exec with its output, `X` broadcast over the running VMs (grouped), `F` one tunnel up."""
        app = self.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await self.ready(pilot, app)
            await pilot.press("x", *"echo v2 > /etc/app-version; uname -sr; ls /", "enter")
            await self._wait(
                pilot, lambda: all(run.finished for run in app.main_screen.exec_runs.runs), "exec"
            )
            await pilot.pause(0.3)
            await self.shoot(pilot, app, "exec")
            await pilot.press("escape")
            main = app.main_screen
            running = [vm for vm in main.table.vms.values() if vm.state is VmState.RUNNING]
            for vm in running:  # Space marks the targets in the list
                main.table.select(vm.key)
                await pilot.press("space")
            main.table.select((PROFILE, self.ids["web"]))
            command = 'cat /etc/app-version 2>/dev/null || { echo "no /etc/app-version"; exit 1; }'
            await pilot.press("X", *command, "enter")
            await self._wait(
                pilot,
                lambda: "distinct output" in str(app.screen.query_one("#broadcast-status").render()),
                "broadcast",
            )
            await pilot.pause(0.3)
            await self.shoot(pilot, app, "broadcast")
            await pilot.press("escape")
            await pilot.press("F", *"0:22", "enter")
            await self._wait(pilot, lambda: bool(main.tunnels.open_tunnels), "the tunnel")
            await pilot.pause(0.3)
            await self.shoot(pilot, app, "tunnels")
            await main.tunnels.close_all()

    async def commits_scene(self) -> None:
        """The lineage pane zoomed: a published commit with its tag, a newer commit on a branch, and
        the checkpoint a delete by keys took (an undo node)."""
        provider = await self.open_provider()
        try:
            await provider.commit(self.ids["branch"], name="release 2")
            await provider.update_commit(self.ids["commit"], is_public=True, name="web configured")
        finally:
            await provider.aclose()
        app = self.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await self.ready(pilot, app)
            if not app.main_screen.table.select((PROFILE, self.ids["spare"])):
                raise RuntimeError("the VM list does not show the spare branch")
            await pilot.press("D")
            await pilot.pause(0.3)
            app.screen.query_one("#confirm").focus()  # "Checkpoint first" is ticked by default
            await pilot.press("enter")
            await self.actions_done(pilot, app)
            await poll_now(pilot, app)
            if not app.main_screen.table.select((PROFILE, self.ids["branch"])):
                raise RuntimeError("the VM list does not show the branch")
            await pilot.press("2", "z")
            await pilot.pause(0.3)
            await self.shoot(pilot, app, "commits")

    @staticmethod
    async def _wait(pilot: Pilot, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app never showed {what}")
            await pilot.pause(0.1)

    async def scratch_scene(self) -> None:
        """`t` on `web` opens a scratch copy of it in a terminal tab, whose shell shows web's files."""
        app = self.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await self.ready(pilot, app)
            await pilot.press("t")
            await self.actions_done(pilot, app)
            await self._shell_output(pilot, app, typed=SCRATCH_COMMAND, expect=("workers = 4",))
            await self.shoot(pilot, app, "scratch")

    async def variant_scenes(self) -> None:
        for name, size, options in (("narrow-80x24", (80, 24), {}), ("ascii", (120, 36), {"ascii": True})):
            app = self.app(**options)
            async with app.run_test(size=size) as pilot:
                await self.ready(pilot, app)
                await self.shoot(pilot, app, name)

    async def run(self) -> list[Path]:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.to_thread(ensure_daemon, self.state_dir)
            provider = await self.open_provider()
            try:
                await self.build_fleet(provider)
            finally:
                await provider.aclose()
            await self.main_scenes()
            await self.action_log_scene()
            await self.file_diff_scene()
            await self.ops_scenes()
            await self.commits_scene()
            await self.variant_scenes()
            await self.scratch_scene()  # last: it adds a VM to the fleet
        finally:
            await self.tear_down()
        return self.written


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _vm_processes(daemon: int) -> list[int]:
    """Pids of the `nshelper.py` processes (the VMs' inits) the engine `daemon` started."""
    parents: dict[int, int] = {}
    helpers: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if any(arg.endswith(b"nshelper.py") for arg in argv):
            helpers.append(pid)

    def descends_from_daemon(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == daemon:
                return True
        return False

    return [pid for pid in helpers if descends_from_daemon(pid)]


def _private_environment(work: Path) -> None:
    """Point the XDG directories into `work`: the app's known_hosts and logs must not land in the
    user's real directories (the engine's host keys die with this run)."""
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        directory = work / variable.lower()
        directory.mkdir(mode=0o700)
        os.environ[variable] = str(directory)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.screenshots DIR", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print(
            "vmtui screenshots: needs root, because they are drawn over real VMs of the local engine "
            "(Linux namespaces); run it with sudo",
            file=sys.stderr,
        )
        return 1
    directory = Path(argv[0]).absolute()
    with tempfile.TemporaryDirectory(prefix="vmtui-screenshots-") as work:
        _private_environment(Path(work))
        try:
            written = asyncio.run(ScreenshotSession(directory, Path(work)).run())
        except (ProviderError, RuntimeError, OSError) as exc:  # one clear line; the engine is torn down
            print(f"vmtui screenshots: {exc}", file=sys.stderr)
            return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
