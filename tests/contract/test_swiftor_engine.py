"""The local engine's Swiftor API against seed 003's examples: each request example (verbatim, from
tests/contract/data/swiftor) is sent as-is, and each answer has exactly the shape of the seed's
answer example: the same keys, the same JSON types, the same fixed messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from vmtui.core.models import VmState
from vmtui.core.swiftor_plans import DISTRIBUTIONS
from vmtui.local.api.app import create_app
from vmtui.local.jwt_tokens import issue_token
from vmtui.providers.swiftor import SwiftorProvider

pytestmark = pytest.mark.root

DATA = Path(__file__).parent / "data" / "swiftor"
TOKEN = "vers-token-" + "v" * 32
SECRET = "swiftor-secret-" + "w" * 40
EMAIL = "seed@example.com"


def example(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


def shape(value: Any) -> Any:
    """Keys and JSON types, not values; objects keyed by ids (VMs, mapping names) by their values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


@pytest.fixture
async def swiftor(engine):
    app = create_app(engine, TOKEN, swiftor_secret=SECRET)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {issue_token(SECRET, EMAIL, plan='hacker')}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1:8123/swiftor", headers=headers, timeout=120
    ) as client:
        yield client


async def test_every_seed_example_round_trips_through_the_engine(swiftor, engine):
    created = await swiftor.post("/vms/create", json=example("create.request"))
    assert created.status_code == 200, created.text
    seed_created = example("create.response")
    assert shape(created.json()) == shape(seed_created)
    vm = created.json()["vm"]
    assert created.json()["message"] == seed_created["message"]
    assert {k: v for k, v in vm.items() if k not in ("id", "user_id")} == {
        k: v for k, v in seed_created["vm"].items() if k not in ("id", "user_id")
    }
    vm_id = vm["id"]

    listed = await swiftor.get("/vms")
    assert shape(listed.json()) == shape(example("list_vms.response"))
    assert listed.json()["vms"][0] == {k: v for k, v in vm.items() if k != "user_id"}

    started = await swiftor.get(f"/vms/start/{vm_id}")
    assert started.json() == example("start.response")
    assert (await swiftor.get("/vms")).json()["vms"][0]["enabled"] is True

    add_secret = {**example("secrets_add.request"), "vmid": vm_id}
    added = await swiftor.post("/vms/secrets", json=add_secret)
    assert added.json() == {**example("secrets_add.response"), "vmid": vm_id}
    secrets = (await swiftor.get("/vms/secrets")).json()
    assert list(secrets) == list(example("secrets_list.response"))  # {"secrets": {vmid: {name: value}}}
    assert secrets["secrets"][vm_id] == {
        "VM_PASSWORD": "your-secure-password",
        "NEW_SECRET_KEY": "its-secret-value",
    }
    removed = await swiftor.delete(f"/vms/secrets/{vm_id}/NEW_SECRET_KEY")
    assert removed.json() == {**example("secrets_remove.response"), "vmid": vm_id}

    mapping = {**example("networking_add.request"), "vmid": vm_id}
    mapped = await swiftor.post("/vms/networking", json=mapping)
    seed_mapped = example("networking_add.response")
    assert shape(mapped.json()) == shape(seed_mapped)
    assert mapped.json()["message"] == seed_mapped["message"]
    assert mapped.json()["internal_port"] == 5001 and mapped.json()["subdomain"].startswith(f"myapp-{vm_id}.")
    networking = (await swiftor.get("/vms/networking")).json()
    seed_vm = example("networking_list.response")["networking"]["1aa62e52-e61c-4ae3-9ac2-c9cb1f46d25f"]
    assert networking == {"networking": {vm_id: {"myapp": seed_vm["myapp"]}}}
    unmapped = await swiftor.delete(f"/vms/networking/{vm_id}/myapp")
    assert unmapped.json() == {**example("networking_remove.response"), "vmid": vm_id}
    assert (await swiftor.get("/vms/networking")).json() == {"networking": {vm_id: {}}}

    stopped = await swiftor.get(f"/vms/stop/{vm_id}")
    assert stopped.status_code == 200 and set(stopped.json()) == {"message"}
    deleted = await swiftor.get(f"/vms/delete/{vm_id}")
    assert deleted.status_code == 200 and set(deleted.json()) == {"message"}
    assert (await swiftor.get("/vms")).json() == {"vms": []}


async def test_the_old_port_field_is_refused_with_the_field_named(swiftor):
    vm_id = (await swiftor.post("/vms/create", json=example("create.request"))).json()["vm"]["id"]
    refused = await swiftor.post("/vms/networking", json={"vmid": vm_id, "name": "web", "port": 80})
    assert refused.status_code == 422
    assert any(item["loc"][-1] == "internal_port" for item in refused.json()["detail"])


@pytest.mark.parametrize("code", list(DISTRIBUTIONS))
async def test_every_distribution_of_the_seed_can_be_created(swiftor, code):
    body = example("create.request")
    body["os"] = {
        "distribution": {"code": code},
        "desktop": "xfce" if DISTRIBUTIONS[code].needs_desktop else None,
    }
    body["os"].update(cpu=1, ram=1)
    created = await swiftor.post("/vms/create", json=body)
    assert created.status_code == 200, created.text
    assert created.json()["vm"]["os"]["distribution"] == code


@pytest.mark.parametrize("code", ["alpine", "arch"])
async def test_codes_the_seed_does_not_list_are_refused(swiftor, code):
    body = example("create.request")
    body["os"]["distribution"] = {"code": code}
    refused = await swiftor.post("/vms/create", json=body)
    assert refused.status_code == 400 and "unknown distribution" in refused.json()["detail"]


async def test_the_provider_speaks_the_engines_swiftor_api(engine):
    app = create_app(engine, TOKEN, swiftor_secret=SECRET)
    provider = SwiftorProvider(
        "local",
        "http://127.0.0.1:8123/swiftor",
        issue_token(SECRET, EMAIL, plan="hacker"),
        transport=httpx.ASGITransport(app=app),
        max_retries=0,
    )
    try:
        vm = await provider.create_desktop(
            "MyWebServer", "AU", "minecraft", None, 2, 4, SecretStr("pw-123456"), "persistent"
        )
        assert vm.state is VmState.STOPPED and vm.owner_id and vm.image == "minecraft"
        added = await provider.add_mapping(vm.id, "game", 25565)
        assert (added.port, added.url) == (25565, f"http://game-{vm.id}.localhost:8123")
        [listed] = await provider.list_mappings(vm.id)
        assert (listed.name, listed.port) == ("game", 25565)
        await provider.delete_mapping(vm.id, "game")
        assert await provider.list_mappings(vm.id) == []
        await provider.delete_vm(vm.id)
    finally:
        await provider.aclose()
