"""The details pane's CPU and memory sparklines: sampled from the REAL local engine's metrics route
for the selected VM; a provider without metrics says so instead."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Sparkline

from tests.local.test_metrics import BUSY
from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle, text_of
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, engine_settings, open_engine  # noqa: F401
from tests.ui.test_local_engine_actions import make_app as engine_app
from vmtui.core.models import VmConfig, VmState
from vmtui.ui.widgets.resource_graphs import ResourceGraphs


def graphs_text(app) -> str:
    graphs = app.main_screen.query_one(ResourceGraphs)
    return f"{text_of(graphs.query_one('#cpu-label'))} / {text_of(graphs.query_one('#memory-label'))}"


def graph_points(app, name: str) -> list[float]:
    return list(app.main_screen.query_one(f"#{name}-graph", Sparkline).data or [])


@pytest.mark.root
async def test_the_selected_vm_gets_cpu_and_memory_graphs_from_the_engine(engine_settings):  # noqa: F811
    engine = await open_engine(engine_settings)
    try:
        vm_id = await engine.create_vm(VmConfig(mem_size_mib=256), wait_boot=True)
        app = engine_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.RUNNING})
            assert app.main_screen.query_one(ResourceGraphs).display
            app.main_screen.query_one("#details").scroll_end(animate=False)  # the graphs come into view
            await wait_for(pilot, app, lambda: len(graph_points(app, "memory")) >= 1, timeout=60)
            assert "of 256 MiB" in graphs_text(app)
            assert all(0 < mib <= 256 for mib in graph_points(app, "memory"))

            await engine.exec(vm_id, ["sh", "-c", BUSY])  # CPU time to show
            deadline = time.monotonic() + 60
            while not any(point > 0 for point in graph_points(app, "cpu")):
                assert time.monotonic() < deadline, graphs_text(app)
                await pilot.pause(0.5)
            assert "% of 1 vCPU" in graphs_text(app)

            await engine.pause_vm(vm_id)  # frozen: its CPU time stops growing, the graph goes to 0
            await wait_for(pilot, app, lambda: states(app) == {vm_id: VmState.PAUSED})
            await wait_for(pilot, app, lambda: graph_points(app, "cpu")[-1] == 0, timeout=60)
            assert "CPU 0% of 1 vCPU" in graphs_text(app)
    finally:
        await engine.aclose()


async def test_a_provider_without_metrics_says_not_available():
    app = make_app(demo_provider())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app)
        assert app.main_screen.table.selected_vm is not None
        await pilot.pause()
        assert "CPU and memory graphs: not available on demo" in graphs_text(app)
        assert graph_points(app, "cpu") == [] and graph_points(app, "memory") == []
