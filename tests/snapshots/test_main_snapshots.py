"""SVG snapshots of every main state of the TUI (the same scenes `make screenshots` draws).

Deterministic: demo provider data, a pinned clock, steady input cursors, fixed terminal sizes.
Update only after reading the report: `pytest tests/snapshots --snapshot-update`.
"""

import pytest

from vmtui.ui.screenshots import SCENES


@pytest.mark.parametrize("scene", SCENES, ids=[scene.name for scene in SCENES])
def test_scene(scene, snap_compare):
    app = scene.app()

    async def run_before(pilot):
        await scene.run(pilot, app)

    assert snap_compare(app, terminal_size=scene.size, run_before=run_before)
