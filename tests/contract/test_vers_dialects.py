"""VersProvider against a server that speaks only the seed's contract and one that speaks only today's
(vers-sdk 1.20.0): every operation works against both, remembered choices cost no wasted request."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from vers_sdk import models as sdk

from tests.contract.fakes import OWNER, SEED_000, FakeVers, SeedVers, TodayVers
from tests.contract.strict import strict
from vmtui.core.errors import BadRequest, NotFound, Unsupported
from vmtui.core.models import VmState
from vmtui.providers.vers import VersProvider
from vmtui.services.actions import Actions
from vmtui.services.availability import Selection, unavailable
from vmtui.ui.actions import BY_ID

KEY = "k" * 40


async def _no_sleep(_: float) -> None:
    return None


def provider_for(server: FakeVers) -> VersProvider:
    return VersProvider(
        "vers", "https://api.vers.sh", KEY, transport=server.transport(), sleep=_no_sleep, max_retries=0
    )


@pytest.fixture(params=[SeedVers, TodayVers], ids=["seed", "today"])
async def dialect(request):
    server = request.param()
    provider = provider_for(server)
    yield server, provider
    await provider.aclose()


def test_the_seed_fake_serves_every_route_of_the_seed():
    server = SeedVers()
    vm_id = server.add_vm()
    server.add_image("default")
    server.commits["c1"] = vm_id
    table = SEED_000["vm_operations"] + SEED_000["rootfs_management"]
    for method, endpoint, _description in sorted(table, key=lambda row: row[0] == "DELETE"):
        path = endpoint.replace("{vm_id}", vm_id).replace("{name}", "default")
        path = path if path.startswith("/api/") else SeedVers.PREFIX + path
        body = {"state": "Running"} if endpoint.endswith("/state") else {"commit_id": "c1"}
        response = server.handle(httpx.Request(method, f"https://api.vers.sh{path}", json=body))
        assert response.is_success, (method, endpoint, response.text)
    assert SEED_000["update_vm_state"] == ["Paused", "Running"]


async def test_list_costs_one_request_once_the_route_is_known(dialect):
    server, provider = dialect
    vm_id = server.add_vm(team="red")
    for _ in range(2):
        [vm] = await provider.list_vms()
        assert (vm.id, vm.state, vm.labels, vm.owner_id) == (vm_id, VmState.RUNNING, {"team": "red"}, OWNER)
    lists = [path for method, path in server.paths if method == "GET"]
    if isinstance(server, TodayVers):
        assert lists == ["/api/v1/vm", "/api/v1/vm"]  # today's route first
    else:
        assert lists == ["/api/v1/vm", "/api/v1/vms", "/api/v1/vms"]  # one miss, then remembered


async def test_pause_uses_the_word_the_server_accepts_and_remembers_it(dialect):
    server, provider = dialect
    first, second = server.add_vm(), server.add_vm()
    await provider.pause_vm(first)
    await provider.pause_vm(second)
    words = [body["state"] for method, _, body in server.requests if method == "PATCH"]
    if isinstance(server, TodayVers):
        assert words == ["Sleeping", "Sleeping"]
        assert server.vms[first].state == server.vms[second].state == "sleeping"
    else:
        assert words == ["Sleeping", "Paused", "Paused"]  # refused once, then the seed's word
        assert server.vms[first].state == server.vms[second].state == "paused"
    states = {vm.id: vm.state for vm in await provider.list_vms()}
    assert all(state.is_paused and state.is_live for state in states.values())
    await provider.resume_vm(first)
    assert server.vms[first].state == "running" and server.requests[-1][2] == {"state": "Running"}


async def test_a_paused_or_sleeping_vm_can_be_resumed_branched_committed_and_entered(dialect):
    server, provider = dialect
    vm_id = server.add_vm(server.PAUSED_STATE)
    vm = await provider.get_vm(vm_id)
    assert vm.state is (VmState.SLEEPING if isinstance(server, TodayVers) else VmState.PAUSED)
    actions = Actions({"vers": provider})
    selection = Selection("vers", vm=vm)
    for action in ("vm.pause", "vm.branch", "vm.commit", "vm.ssh"):
        assert unavailable(BY_ID[action].requires, selection, actions.providers, {}) is None, action
    outcome = await actions.toggle_pause(vm)
    assert outcome.message == f"Resumed {vm_id}" and server.vms[vm_id].state == "running"


async def test_get_vm_merges_metadata_where_the_server_has_it(dialect):
    server, provider = dialect
    vm_id = server.add_vm()
    vm = await provider.get_vm(vm_id)
    assert vm.id == vm_id and vm.state is VmState.RUNNING
    if isinstance(server, TodayVers):
        assert vm.ip == "fd00:fe11:deed::2"
        assert (vm.specs.vcpu_count, vm.specs.mem_size_mib) == (2, 1024)
    else:
        assert vm.ip is None and vm.specs.vcpu_count is None  # the seed has no metadata route


async def test_a_sleeping_vm_is_read_from_metadata_when_status_refuses():
    server = TodayVers()
    provider = provider_for(server)
    vm_id = server.add_vm("sleeping")
    vm = await provider.get_vm(vm_id)
    assert vm.state is VmState.SLEEPING and vm.ip == "fd00:fe11:deed::2"
    await provider.aclose()


async def test_commit_sends_an_empty_object_and_branch_and_restore_work(dialect):
    server, provider = dialect
    vm_id = server.add_vm()
    commit_id = await provider.commit(vm_id)
    assert server.requests[-1][2] == {} and server.commits[commit_id] == vm_id
    named = await provider.commit(vm_id, name="base", description="clean")
    assert server.requests[-1][2] == {"name": "base", "description": "clean"} and named in server.commits
    [child] = await provider.branch(commit_id)
    assert server.vms[child].parent_commit_id == commit_id
    restored = await provider.restore(commit_id)
    assert server.vms[restored].parent_commit_id == commit_id
    key = await provider.ssh_key(restored)
    assert key.private_key_pem.startswith("-----BEGIN") and key.port == 443
    await provider.delete_vm(restored)
    assert restored not in server.vms


async def test_images_list_once_per_route_and_delete_on_both(dialect):
    server, provider = dialect
    keep, gone = server.add_image("default"), server.add_image("scratch")
    for _ in range(2):
        images = await provider.list_images()
        assert [i.name for i in images] == ["default", "scratch"]
    await provider.delete_image("scratch")
    assert list(server.images) == ["default"]
    reads = [path for method, path in server.paths if method == "GET"]
    deletes = [path for method, path in server.paths if method == "DELETE"]
    if isinstance(server, TodayVers):
        assert [i.id for i in images] == [keep.base_image_id, gone.base_image_id]
        assert reads == ["/api/rootfs", "/api/v1/images", "/api/v1/images"]
        assert deletes == [f"/api/v1/images/images/{gone.base_image_id}"]
    else:
        assert reads == ["/api/rootfs", "/api/rootfs"]
        assert deletes == ["/api/rootfs/scratch"]
    with pytest.raises(NotFound):
        await provider.delete_image("scratch")


async def test_image_delete_before_any_list_finds_the_route_and_the_id(dialect):
    server, provider = dialect
    image = server.add_image("scratch")
    await provider.delete_image("scratch")
    assert server.images == {}
    expected = (
        f"/api/v1/images/images/{image.base_image_id}"
        if isinstance(server, TodayVers)
        else "/api/rootfs/scratch"
    )
    assert server.paths[-1] == ("DELETE", expected)


async def test_labels_upsert_replace_and_delete_one_on_todays_api():
    server = TodayVers()
    provider = provider_for(server)
    vm_id = server.add_vm(team="red", tier="web")
    await provider.upsert_labels(vm_id, {"tier": "db", "owner": "ana"})
    assert server.vms[vm_id].labels == {"team": "red", "tier": "db", "owner": "ana"}
    assert server.requests[-1][:2] == ("PATCH", f"/api/v1/vm/{vm_id}/label")
    await provider.delete_label(vm_id, "team")
    assert server.vms[vm_id].labels == {"tier": "db", "owner": "ana"}
    await provider.replace_labels(vm_id, {"only": "this"})
    assert server.vms[vm_id].labels == {"only": "this"}
    [vm] = await provider.list_vms()
    assert vm.labels == {"only": "this"}
    await provider.replace_labels(vm_id, {})
    assert server.vms[vm_id].labels == {} and server.requests[-1][2] == {"labels": {}}
    with pytest.raises(BadRequest):
        await provider.delete_label(vm_id, "..")
    await provider.aclose()


async def test_labels_on_the_seeds_api_fail_clearly():
    server = SeedVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    with pytest.raises(NotFound):
        await provider.upsert_labels(vm_id, {"a": "b"})
    await provider.aclose()


async def test_disk_resize_grows_on_todays_api_and_shows_the_servers_refusal():
    server = TodayVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    await provider.resize_disk(vm_id, 2048)
    assert server.vms[vm_id].fs_size_mib == 2048
    assert server.requests[-1] == ("PATCH", f"/api/v1/vm/{vm_id}/disk", {"fs_size_mib": 2048})
    with pytest.raises(BadRequest, match="larger than the current 2048 MiB"):
        await provider.resize_disk(vm_id, 1024)
    assert server.vms[vm_id].fs_size_mib == 2048
    with pytest.raises(BadRequest):
        await provider.resize_disk(vm_id, 0)
    await provider.aclose()


async def test_env_vars_list_set_delete_on_todays_api_values_stay_hidden():
    server = TodayVers()
    provider = provider_for(server)
    server.env_vars["KEEP"] = "kept"
    await provider.set_env_var("TOKEN", "s3cret-value")
    assert server.env_vars == {"KEEP": "kept", "TOKEN": "s3cret-value"}
    assert server.requests[-1][2] == {"vars": {"TOKEN": "s3cret-value"}, "replace": False}
    listed = await provider.list_env_vars()
    assert {k: v.get_secret_value() for k, v in listed.items()} == server.env_vars
    assert "s3cret-value" not in repr(listed)
    await provider.delete_env_var("TOKEN")
    assert server.env_vars == {"KEEP": "kept"}
    with pytest.raises(NotFound):
        await provider.delete_env_var("TOKEN")
    await provider.aclose()


async def test_disk_and_env_vars_on_the_seeds_api_fail_clearly():
    server = SeedVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    with pytest.raises(Unsupported, match="no environment variables"):
        await provider.list_env_vars()
    with pytest.raises(NotFound, match="no route"):
        await provider.resize_disk(vm_id, 4096)
    await provider.aclose()


def test_todays_fake_answers_decode_strictly_into_the_sdk_models():
    """The fake is only evidence if it speaks today's shapes: check it against vers-sdk's models."""
    server = TodayVers()
    vm_id = server.add_vm(team="red")
    server.add_image("default")

    def get(path: str):
        response = server.handle(httpx.Request("GET", f"https://api.vers.sh/api/v1{path}"))
        assert response.status_code == 200, path
        return response.json()

    [vm] = strict(list[sdk.VM], get("/vm"))
    assert vm.vm_id == vm_id and vm.state is sdk.VmState.RUNNING and vm.labels == {"team": "red"}
    meta = strict(sdk.VmMetadataResponse, get(f"/vm/{vm_id}/metadata"))
    assert meta.ip.startswith("fd00:") and meta.vcpu_count == 2 and meta.mem_size_mib == 1024
    images = strict(sdk.ListBaseImagesResponse, get("/images"))
    assert [i.image_name for i in images.images] == ["default"] and images.total == 1
    assert strict(sdk.VmSshKeyResponse, get(f"/vm/{vm_id}/ssh_key")).ssh_port == 443


async def test_an_env_var_value_never_reaches_the_action_log_or_its_curl_export():
    server = TodayVers()
    actions = Actions({"vers": provider_for(server)})
    outcome = await actions.set_env_var("vers", "TOKEN", SecretStr("s3cret-value"))
    assert server.env_vars == {"TOKEN": "s3cret-value"} and "s3cret-value" not in outcome.message
    (entry,) = actions.log.entries
    assert entry.requests and entry.requests[0].method == "PUT"
    assert "s3cret-value" not in repr(entry) and "s3cret-value" not in entry.to_json()
    await actions.providers["vers"].aclose()
