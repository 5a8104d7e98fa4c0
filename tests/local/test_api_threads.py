"""The API layer's SQLite writes (synchronous=FULL: each one waits for an fsync) run in worker
threads, never on the event loop that also serves the SSH gateway; reads on the loop never wait
for them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine
from vmtui.local.jwt_tokens import issue_token
from vmtui.local.store import Store
from vmtui.local.swiftor_store import SwiftorStore

TOKEN = "threads-token-" + "t" * 32
SECRET = "w" * 48
VERS = {"Authorization": f"Bearer {TOKEN}"}
ALICE = {"Authorization": f"Bearer {issue_token(SECRET, 'alice@example.com')}"}
STORE_WRITES = ("set_env_vars", "delete_env_var", "put_response")
SWIFTOR_WRITES = (
    "ensure_user",
    "insert_vm",
    "set_secret",
    "delete_secret",
    "add_mapping",
    "delete_mapping",
    "delete_vm",
)


@pytest.fixture
async def engine(tmp_path) -> AsyncIterator[Engine]:
    eng = Engine(tmp_path / "engine")
    await eng.start()
    yield eng
    for vm in eng.db.list_vms(all_owners=True):
        with contextlib.suppress(Exception):
            await eng.delete_vm(vm.id, owner=vm.owner)
    await eng.close()


def _record_threads(
    monkeypatch: pytest.MonkeyPatch, cls: type, names: tuple[str, ...]
) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = {}
    for name in names:
        original = getattr(cls, name)

        def spy(self, *args, __name=name, __original=original, **kwargs):
            seen.setdefault(__name, set()).add(threading.get_ident())
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, spy)
    return seen


async def test_api_store_writes_run_off_the_event_loop(engine, monkeypatch):
    loop_thread = threading.get_ident()
    seen = _record_threads(monkeypatch, Store, STORE_WRITES)
    seen_swiftor = _record_threads(monkeypatch, SwiftorStore, SWIFTOR_WRITES)
    app = create_app(engine, TOKEN, swiftor_secret=SECRET)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test", timeout=60) as http:
        key = {"X-Idempotency-Key": "k"}
        assert (
            await http.put("/api/v1/env_vars", json={"vars": {"A": "1"}}, headers={**VERS, **key})
        ).is_success
        assert (await http.delete("/api/v1/env_vars/A", headers=VERS)).status_code == 204
        body = {
            "config": {"vmlabel": "box", "region": {"code": "AU"}, "password": "pw"},
            "os": {"distribution": {"code": "kali"}, "cpu": 1, "ram": 1},
        }
        vm = (await http.post("/swiftor/vms/create", json=body, headers=ALICE)).json()["vm"]["id"]
        secret = {"vmid": vm, "key": "K", "value": "v"}
        assert (await http.post("/swiftor/vms/secrets", json=secret, headers=ALICE)).is_success
        assert (await http.delete(f"/swiftor/vms/secrets/{vm}/K", headers=ALICE)).is_success
        mapping = {"vmid": vm, "name": "web", "internal_port": 8000}
        assert (await http.post("/swiftor/vms/networking", json=mapping, headers=ALICE)).is_success
        assert (await http.delete(f"/swiftor/vms/networking/{vm}/web", headers=ALICE)).is_success
        assert (await http.get(f"/swiftor/vms/delete/{vm}", headers=ALICE)).is_success
    assert set(seen) == set(STORE_WRITES) and set(seen_swiftor) == set(SWIFTOR_WRITES)
    on_loop = sorted(name for name, threads in {**seen, **seen_swiftor}.items() if loop_thread in threads)
    assert on_loop == []


def test_a_read_does_not_wait_for_a_write_in_progress(tmp_path):
    store = Store(tmp_path / "state.db")
    store.set_env_vars({"A": "1"}, replace=False)
    seen: list[dict[str, str]] = []
    reader = threading.Thread(target=lambda: seen.append(store.env_vars()))
    with store._lock:  # a writer in another thread holds the write side (e.g. during its fsync)
        reader.start()
        reader.join(timeout=60)
        assert seen == [{"A": "1"}]
    store.close()
