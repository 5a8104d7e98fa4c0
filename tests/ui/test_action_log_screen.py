"""`L` on the REAL local engine: the changes made by keys are listed with their results, exported
as vers-cli commands and curl lines (0600, no token), and a curl line replays its change."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat

import pytest
from textual.widgets import DataTable, Input

from tests.ui.helpers import settle, text_of, wait_actions
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, engine_settings, open_engine  # noqa: F401 - fixture
from vmtui.config import PollSettings
from vmtui.core.models import VmConfig, VmState
from vmtui.services.action_log import ActionLog
from vmtui.services.local_daemon import read_endpoint
from vmtui.services.registry import Registry
from vmtui.ui.app import VmTuiApp
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.action_log import ActionLogScreen

pytestmark = pytest.mark.root


async def test_L_lists_the_changes_exports_them_and_curl_replays_one(engine_settings, tmp_path):  # noqa: F811
    engine = await open_engine(engine_settings)
    log_dir = tmp_path / "action-log"
    try:
        source = await engine.create_vm(VmConfig(), wait_boot=True)
        openers = Registry(engine_settings).openers(["local"])
        poll = PollSettings(fast=30, slow=30, max_backoff=30, timeout=30)
        app = VmTuiApp(openers, AppOptions(poll=poll, action_log_dir=log_dir))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {source: VmState.RUNNING})
            await pilot.press("c")
            assert app.screen.focused is app.screen.query_one("#name", Input)
            await pilot.press(*"snap1", "enter")
            await wait_actions(pilot, app)
            await pilot.press("p")  # pause
            await wait_actions(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {source: VmState.PAUSED})

            await pilot.press("L")
            assert isinstance(app.screen, ActionLogScreen)
            table = app.screen.query_one(DataTable)
            rows = [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]
            assert [row[2:] for row in rows] == [["commit", source, "ok"], ["pause", source, "ok"]]
            detail = text_of(app.screen.query_one("#log-detail"))
            assert f"vers: vers pause {source}" in detail and "/state" in detail  # the selected (last) one

            await pilot.press("v", "u")
            session = app.actions.log.session
            vers_file, curl_file = log_dir / f"{session}-vers.sh", log_dir / f"{session}-curl.sh"
            await pilot.press("escape")
            assert app.screen is app.main_screen

        token = read_endpoint(engine_settings.profiles["local"].state_dir).token
        for path in (vers_file, curl_file, log_dir / f"{session}.jsonl"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert token not in path.read_text()
        commands = [line for line in vers_file.read_text().splitlines() if line.startswith("vers ")]
        assert commands == [f"vers commit create {source}", f"vers pause {source}"]
        assert [e.action for e in ActionLog.read(log_dir / f"{session}.jsonl")] == ["commit", "pause"]

        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        commit_line = next(line for line in curl_file.read_text().splitlines() if line.endswith("/commit"))
        replay = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            commit_line,
            env={**os.environ, "VERS_API_KEY": token},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(replay.communicate(), timeout=60)
        assert replay.returncode == 0, err
        assert b"commit_id" in out, out
        commits = await engine.list_commits()
        assert sorted(c.name or "" for c in commits) == ["snap1", "snap1"]  # the replay made the second
    finally:
        await engine.aclose()
