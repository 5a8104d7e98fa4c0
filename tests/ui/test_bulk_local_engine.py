"""Issue 15: marks and a bulk delete of 3 VMs with ONE confirmation, against the REAL local engine."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from tests.ui.helpers import settle, text_of, wait_actions
from tests.ui.test_local_engine import states, wait_for
from tests.ui.test_local_engine_actions import SIZE, engine_settings, open_engine  # noqa: F401
from tests.ui.test_local_engine_actions import make_app as engine_app
from vmtui.core.models import VmConfig
from vmtui.ui.screens.confirm_bulk import ConfirmBulkScreen
from vmtui.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.root


async def test_mark_three_sort_by_name_and_delete_them_with_one_confirmation(engine_settings):  # noqa: F811
    engine = await open_engine(engine_settings)
    try:
        made = {}
        for name in ("delta", "alpha", "charlie", "bravo"):
            config = VmConfig(mem_size_mib=128, labels={"name": name})
            made[name] = await engine.create_vm(config, wait_boot=False)
        app = engine_app(engine_settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await wait_for(pilot, app, lambda: len(states(app)) == 4)
            table = app.main_screen.table
            await pilot.press("1", "N")  # by name: alpha, bravo, charlie, delta
            assert [table.vms[key].display_name for key in table.row_keys()] == sorted(made)
            assert "Name / id ▲" in table.render_line(0).text
            await pilot.press("home", "space", "space", "space")
            assert {vm.display_name for vm in table.marked_vms} == {"alpha", "bravo", "charlie"}
            await wait_for(pilot, app, lambda: all(vm.state.is_live for vm in table.vms.values()))
            assert len(table.marked) == 3  # the marks outlived the snapshots that changed the states
            assert "3 selected" in text_of(app.main_screen.query_one(StatusBar))

            await pilot.press("D")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ConfirmBulkScreen)
            assert {vm.display_name for vm in dialog.targets} == {"alpha", "bravo", "charlie"}
            body = text_of(dialog.query_one("#confirm-body"))
            assert all(name in body for name in ("alpha", "bravo", "charlie")) and "delta" not in body
            assert app.focused is dialog.query_one("#cancel", Button)
            await pilot.press("tab", "enter")
            await wait_actions(pilot, app)
            assert [n for n in app.notes if n[0].startswith("Delete")] == [
                ("Delete", "3 of 3 done", "information")
            ]
            await wait_for(pilot, app, lambda: len(states(app)) == 1)
            assert [vm.display_name for vm in table.vms.values()] == ["delta"]
            assert not table.marked and "selected" not in text_of(app.main_screen.query_one(StatusBar))
        assert [vm.id for vm in await engine.list_vms()] == [made["delta"]]
    finally:
        await engine.aclose()
