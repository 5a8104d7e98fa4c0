"""bench/bench_tui.py, scaled down: the rows come out well-formed and measured, the mock Vers API
serves what the real provider needs, and the cold start on the real engine cleans up after itself."""

import json
import os

import pytest

from bench import bench_tui
from bench.bench_tui import MockVersApi


async def test_mock_api_serves_lineage_and_changes_one_percent():
    api = MockVersApi(300)
    provider = api.provider()
    try:
        vms = {vm.id: vm for vm in await provider.list_vms_with_lineage()}
        commits = await provider.list_commits()
        assert len(vms) == 300 and len(commits) == 100 and api.metadata_requests == 300
        assert sum(1 for vm in vms.values() if vm.parent_commit_id) == 200
        assert {c.parent_vm_id for c in commits} <= set(vms)
        assert api.change_states(0) == 3
        again = {vm.id: vm for vm in await provider.list_vms_with_lineage()}
        changed = [vm_id for vm_id in vms if vms[vm_id].state is not again[vm_id].state]
        assert len(changed) == 3 and api.metadata_requests == 300  # lineage is cached, not refetched
    finally:
        await provider.aclose()


def test_scaled_down_run_measures_every_row():
    rows = bench_tui.run(engine_vms=0, vm_counts=(50, 200), rss_vms=200, idle_seconds=0.3, poll_window=1.0)
    names = [row["name"] for row in rows]
    assert len(rows) == 1 + 3 + 3 + 2 + 1, names
    assert sum("real HTTP, fake API in another process" in name for name in names) == 2
    assert sum("apply 1%-changed snapshot, 200 VMs" in name for name in names) == 2
    for row in rows:
        assert row["value"] is not None and row["value"] > 0, row
        assert row["baseline"] is not None and row["baseline"] >= 0, row
        if row["baseline"]:
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline"])
    assert rows[0]["name"].startswith("TUI start imports")
    rss = rows[-1]
    assert rss["unit"] == "MB" and 20 < rss["baseline"] < rss["value"] < 2000


def test_peak_rss_grows_with_the_table():
    assert bench_tui.peak_rss_mb("bare", 20_000) > bench_tui.peak_rss_mb("bare", 10) + 5


@pytest.mark.root
def test_cold_start_on_the_real_engine_cleans_up(monkeypatch):
    monkeypatch.setattr(bench_tui, "RATE_REFILL_SECONDS", 0)
    stop = bench_tui._stop_daemon
    stopped = []

    def recording_stop(state_dir):
        stopped.append(json.loads((state_dir / "endpoint.json").read_text())["pid"])
        stop(state_dir)

    monkeypatch.setattr(bench_tui, "_stop_daemon", recording_stop)
    wall, cpu = bench_tui.cold_start_rows(3, rounds=2)
    for row in (wall, cpu):
        assert row["value"] > 0 and row["baseline"] > 0 and "3 VMs" in row["name"] and row["ratio"] > 0
    assert "CPU" in cpu["name"]
    assert len(stopped) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(stopped[0], 0)


def test_cold_start_without_root_is_a_skipped_row(monkeypatch):
    monkeypatch.setattr(bench_tui.os, "geteuid", lambda: 1000)
    [row] = bench_tui.cold_start_rows(100)
    assert row["value"] is None and "skipped" in row["name"] and "root" in row["name"]
