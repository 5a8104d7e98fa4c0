"""The engine's list ETags, lineage in its list, and its event stream, over the real in-process app."""

from __future__ import annotations

import httpx
import pytest

from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine

TOKEN = "test-token-" + "p" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
V1 = "/api/v1"


@pytest.fixture
async def engine(tmp_path):
    engine = Engine(tmp_path / "state")
    await engine.start()
    yield engine
    for vm in engine.db.list_vms(all_owners=True, phases=("ready",)):
        await engine.delete_vm(vm.id, owner=vm.owner)
    await engine.close()


@pytest.fixture
async def api(engine):
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test", headers=AUTH) as client:
        yield client


@pytest.mark.parametrize("path", [f"{V1}/vm", f"{V1}/vms", f"{V1}/commits"])
async def test_an_unchanged_list_answers_304_to_its_etag(api, path):
    first = await api.get(path)
    etag = first.headers["etag"]
    again = await api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await api.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = await api.get(path, headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


@pytest.mark.root
async def test_a_change_gives_the_list_a_new_etag(api):
    empty = await api.get(f"{V1}/vm")
    created = await api.post(f"{V1}/vm/new_root", json={"vm_config": {}}, params={"wait_boot": True})
    vm_id = created.json()["vm_id"]
    listed = await api.get(f"{V1}/vm", headers={"If-None-Match": empty.headers["etag"]})
    assert listed.status_code == 200
    assert [vm["vm_id"] for vm in listed.json()] == [vm_id]
    await api.patch(f"{V1}/vm/{vm_id}/label", json={"labels": {"team": "a"}})
    relabelled = await api.get(f"{V1}/vm", headers={"If-None-Match": listed.headers["etag"]})
    assert relabelled.status_code == 200
    assert relabelled.json()[0]["labels"] == {"team": "a"}
    assert relabelled.headers["etag"] != listed.headers["etag"]


async def test_the_list_etag_needs_authentication(engine):
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine.test") as anonymous:
        response = await anonymous.get(f"{V1}/vm", headers={"If-None-Match": "*"})
    assert response.status_code == 401
    assert "etag" not in response.headers
