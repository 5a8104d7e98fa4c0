"""SwiftorProvider against seed 003's own examples: every request the provider sends equals the seed's
request example, every response example (loaded verbatim from tests/contract/data/swiftor) decodes
into the values it shows. Plus the seed's distribution and plan tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from vmtui.core.models import VmState
from vmtui.core.swiftor_plans import DESKTOPS, DISTRIBUTIONS, PLANS, distribution_problem, routes_of
from vmtui.providers.swiftor import PortMapping, SwiftorProvider

DATA = Path(__file__).parent / "data" / "swiftor"
VM_ID = "1aa62e52-e61c-4ae3-9ac2-c9cb1f46d25f"


def example(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


class SeedSwiftor:
    """Answers each route with the seed's response example and records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        route = (request.method, request.url.raw_path.decode())
        self.sent.append((*route, body))
        answers = {
            ("GET", "/vms"): "list_vms.response",
            ("POST", "/vms/create"): "create.response",
            ("GET", f"/vms/start/{VM_ID}"): "start.response",
            ("GET", "/vms/secrets"): "secrets_list.response",
            ("POST", "/vms/secrets"): "secrets_add.response",
            ("DELETE", f"/vms/secrets/{VM_ID}/NEW_SECRET_KEY"): "secrets_remove.response",
            ("GET", "/vms/networking"): "networking_list.response",
            ("POST", "/vms/networking"): "networking_add.response",
            ("DELETE", f"/vms/networking/{VM_ID}/myapp"): "networking_remove.response",
        }
        name = answers.get(route)
        if name is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json=example(name))


@pytest.fixture
async def swiftor():
    server = SeedSwiftor()
    provider = SwiftorProvider("sw", "https://api.swiftor.io", "jwt", transport=httpx.MockTransport(server))
    yield server, provider
    await provider.aclose()


async def test_list_vms_decodes_the_seeds_example(swiftor):
    _, provider = swiftor
    [vm] = await provider.list_vms()
    assert (vm.id, vm.label, vm.region, vm.image) == (VM_ID, "NewVM", "AU", "ubuntu-xfce")
    assert vm.state is VmState.STOPPED  # "enabled": false
    assert (vm.specs.vcpu_count, vm.specs.mem_size_mib, vm.specs.persistent_storage) == (2, 4096, True)


async def test_create_sends_the_seeds_request_and_reads_its_answer(swiftor):
    server, provider = swiftor
    request = example("create.request")
    vm = await provider.create_desktop(
        request["config"]["vmlabel"],
        request["config"]["region"]["code"],
        request["os"]["distribution"]["code"],
        request["os"]["desktop"],
        request["os"]["cpu"],
        request["os"]["ram"],
        SecretStr(request["config"]["password"]),
        request["config"]["storageType"],
    )
    assert server.sent == [("POST", "/vms/create", request)]
    assert (vm.id, vm.owner_id, vm.label, vm.state) == (
        "generated-uuid-4",
        "user-supabase-id",
        "MyWebServer",
        VmState.STOPPED,
    )
    assert vm.specs.persistent_storage is True and vm.image == "ubuntu-xfce"


async def test_start_reads_the_seeds_answer(swiftor):
    server, provider = swiftor
    await provider.start_vm(VM_ID)
    assert server.sent == [("GET", f"/vms/start/{VM_ID}", None)]


async def test_secrets_list_add_remove_as_the_seed_shows(swiftor):
    server, provider = swiftor
    secrets = await provider.list_secrets(VM_ID)
    assert {k: v.get_secret_value() for k, v in secrets.items()} == {
        "API_KEY": "your-api-key-value",
        "DATABASE_URL": "your-db-url",
    }
    assert await provider.list_secrets("another-vm-id") != secrets
    add = example("secrets_add.request")
    await provider.set_secret(add["vmid"], add["key"], SecretStr(add["value"]))
    assert server.sent[-1] == ("POST", "/vms/secrets", add)
    await provider.delete_secret(VM_ID, "NEW_SECRET_KEY")
    assert server.sent[-1] == ("DELETE", f"/vms/secrets/{VM_ID}/NEW_SECRET_KEY", None)


async def test_networking_list_add_remove_as_the_seed_shows(swiftor):
    server, provider = swiftor
    mappings = await provider.list_mappings(VM_ID)
    assert mappings == [
        PortMapping(vmid=VM_ID, name="myapp", port=5001, url=f"https://myapp-{VM_ID}.swiftor.io"),
        PortMapping(vmid=VM_ID, name="api", port=8080, url=f"https://api-{VM_ID}.swiftor.io"),
    ]
    [web] = await provider.list_mappings("another-vm-id")
    assert (web.name, web.port) == ("web", 3000)
    add = example("networking_add.request")
    added = await provider.add_mapping(add["vmid"], add["name"], add["internal_port"])
    assert server.sent[-1] == ("POST", "/vms/networking", add)
    assert (added.name, added.port, added.url) == ("myapp", 5001, f"https://myapp-{VM_ID}.swiftor.io")
    await provider.delete_mapping(VM_ID, "myapp")
    assert server.sent[-1] == ("DELETE", f"/vms/networking/{VM_ID}/myapp", None)


SEED_TABLE = {
    # code: (needs a desktop, default port, extra routes)
    "ubuntu": (True, 3000, ()),
    "debian": (True, 3000, ()),
    "fedora": (True, 3000, ()),
    "kali": (False, 3000, ()),
    "blender": (False, 3000, ()),
    "code-server": (False, 8443, ()),
    "emulatorjs": (False, 80, (("/manage", 3000),)),
    "phpmyadmin": (False, 80, ()),
    "krita": (False, 3000, ()),
    "steamos": (False, 3000, ()),
    "minecraft": (False, 8443, (("/minecraft", 25565),)),
}


def test_distributions_are_exactly_the_seeds_table():
    assert list(DISTRIBUTIONS) == list(SEED_TABLE)
    for code, (needs_desktop, port, extra) in SEED_TABLE.items():
        distribution = DISTRIBUTIONS[code]
        assert distribution.needs_desktop is needs_desktop and distribution.default.port == port
        assert tuple((r.path, r.port) for r in distribution.extra_routes) == extra
        assert distribution_problem(code, "xfce") is None
        assert (distribution_problem(code, None) is None) is not needs_desktop
    assert DISTRIBUTIONS["code-server"].volumes == ("/config/workspace",)
    assert DISTRIBUTIONS["emulatorjs"].volumes == ("/data",)
    assert DISTRIBUTIONS["steamos"].user_port_forwarding
    assert {"kde", "xfce"} <= DESKTOPS


@pytest.mark.parametrize("code", ["alpine", "arch", "windows", ""])
def test_codes_the_seed_does_not_list_are_refused(code):
    assert "unknown distribution" in distribution_problem(code, "xfce")


def test_routes_follow_the_image_name_the_provider_builds():
    assert [(r.path, r.port) for r in routes_of("ubuntu-xfce")] == [("/", 3000)]
    assert [(r.path, r.port) for r in routes_of("code-server")] == [("/", 8443)]
    assert [(r.path, r.port) for r in routes_of("minecraft")] == [("/", 8443), ("/minecraft", 25565)]
    assert [(r.path, r.port) for r in routes_of("emulatorjs-kde")] == [("/", 80), ("/manage", 3000)]
    assert routes_of("alpine") == () and routes_of("alpine-xfce") == () and routes_of(None) == ()


def test_plans_are_the_seeds_table():
    table = {name: (p.max_cpu, p.max_ram_gb, p.storage_gb) for name, p in PLANS.items()}
    assert table == {"core": (1, 2, 2), "hacker": (4, 8, 30), "engineer": (8, 16, 150)}
