"""The TUI's start loads only what its first screen needs (issue #14, cold start).

SSH (asyncssh), the terminal emulator, the diff view and the engine's web stack are imported where they
are first used; each check runs a clean interpreter, since this test process has imported everything."""

import json
import subprocess
import sys
import textwrap

HEAVY = ("asyncssh", "avt", "pyte", "textual_diff_view", "fastapi", "uvicorn", "textual_serve", "aiohttp")
DEFERRED = ("vmtui.terminal", "vmtui.ui.widgets.terminal_tabs", "vmtui.ui.screens.file_diff", "vmtui.local")


def _loaded_after(script: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `script`."""
    report = f"""
import json, sys
heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m.startswith({DEFERRED!r})]
print(json.dumps(sorted(heavy)))
"""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script) + report],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_cli_and_the_app_import_no_heavy_module():
    script = """
    from vmtui.__main__ import build_parser
    build_parser()
    import vmtui.cli.tui, vmtui.services.registry, vmtui.ui.app
    """
    assert _loaded_after(script) == []


def test_the_first_screen_with_rows_imports_no_heavy_module():
    """The app runs headless to its first rows: composing the main screen (terminal area included) and
    applying a fleet load nothing heavy."""
    script = """
    import asyncio, time
    from vmtui.core.models import Fleet, Vm, VmState
    from vmtui.providers.base import Provider
    from vmtui.ui.app import VmTuiApp
    from vmtui.ui.messages import FleetUpdated
    from vmtui.services.poller import PollResult
    from vmtui.ui.options import AppOptions

    async def never(_status) -> Provider:
        await asyncio.Event().wait()

    async def main() -> None:
        app = VmTuiApp({"p": never}, AppOptions(active_profile="p"))
        async with app.run_test(headless=True, size=(120, 40)) as pilot:
            vms = tuple(Vm(id=f"vm-{i}", provider="p", state=VmState.RUNNING) for i in range(3))
            fleet = Fleet(provider="p", vms=vms, commits=(), fetched_at=time.time())
            app.main_screen.post_message(FleetUpdated(PollResult(provider="p", fleet=fleet)))
            for _ in range(200):
                await pilot.pause(0.05)
                if app.main_screen.table.row_count == 3:
                    break
            assert app.main_screen.table.row_count == 3

    asyncio.run(main())
    """
    assert _loaded_after(script) == []
