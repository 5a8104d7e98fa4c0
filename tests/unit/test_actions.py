import pytest

from tests.ui.demo_provider import DemoProvider, demo_provider
from vmtui.core.errors import Conflict, NotFound, ProviderError, Unsupported
from vmtui.core.models import Capabilities, Vm, VmConfig, VmState
from vmtui.services.actions import Actions, dependants, parse_labels


def make(provider=None):
    provider = provider or demo_provider()
    changes: list[dict] = []
    actions = Actions({provider.name: provider}, lambda key: changes.append(dict(actions.pending)))
    return actions, provider, changes


async def test_pending_is_set_while_running_and_cleared_after():
    actions, provider, changes = make()
    vm = provider.vms["vm-8c1d77e4"]
    outcome = await actions.toggle_pause(vm)
    assert outcome.message == "Paused vm-8c1d77e4"
    assert changes == [{vm.key: "pausing"}, {}]
    assert provider.vms[vm.id].state is VmState.PAUSED
    resumed = await actions.toggle_pause(provider.vms[vm.id])
    assert resumed.message == "Resumed vm-8c1d77e4" and provider.vms[vm.id].state is VmState.RUNNING


async def test_failures_keep_the_server_message_and_clear_pending():
    actions, provider, changes = make()
    provider.fail["delete_vm"] = Conflict("VM is sleeping", status=409)
    vm = provider.vms["vm-3f2a91c0"]
    with pytest.raises(Conflict, match="VM is sleeping"):
        await actions.delete(vm)
    assert actions.pending == {} and changes[-1] == {}
    assert vm.id in provider.vms


async def test_busy_is_per_profile():
    actions, _, _ = make()
    actions.mark(("local", "vm-x"), "branching")
    assert actions.busy("local") and actions.busy() and not actions.busy("other")


async def test_branch_many_reports_each_new_vm_until_booted():
    actions, provider, _ = make()
    original = provider.get_vm
    polls: dict[str, int] = {}

    async def booting_twice(vm_id):
        vm = await original(vm_id)
        polls[vm_id] = polls.get(vm_id, 0) + 1
        return vm.model_copy(update={"state": VmState.BOOTING if polls[vm_id] <= 2 else VmState.RUNNING})

    provider.get_vm = booting_twice
    sleeps: list[float] = []

    async def no_sleep(seconds):
        sleeps.append(seconds)

    actions._sleep = no_sleep
    seen: list[tuple[str, VmState]] = []
    outcome = await actions.branch(
        provider.vms["vm-8c1d77e4"], 3, lambda vm_id, state: seen.append((vm_id, state))
    )
    assert len(outcome.ids) == 3 and outcome.message.startswith("Branched vm-8c1d77e4 into 3 VMs")
    assert [s for _, s in seen].count(VmState.RUNNING) == 3
    assert [s for _, s in seen].count(VmState.BOOTING) == 6
    assert sleeps == [0.5, 0.5]
    for vm_id in outcome.ids:
        assert provider.vms[vm_id].parent_commit_id is not None


async def test_branch_rejects_bad_count_and_unknown_profile():
    actions, provider, _ = make()
    with pytest.raises(ValueError):
        await actions.branch(provider.vms["vm-8c1d77e4"], 0)
    with pytest.raises(NotFound, match="no profile named 'ghost'"):
        await actions.branch(Vm(provider="ghost", id="x"), 1)
    assert actions.pending == {}


async def test_create_commit_restore_and_images():
    actions, provider, _ = make()
    created = await actions.create("local", VmConfig(vcpu_count=2, labels={"a": "b"}), wait_boot=True)
    assert provider.vms[created.ids[0]].labels == {"a": "b"}
    committed = await actions.commit(provider.vms[created.ids[0]], name="n", description="")
    commit = provider.commits[committed.ids[0]]
    assert commit.name == "n" and commit.description is None  # empty text is not sent
    restored = await actions.restore(commit)
    assert provider.vms[restored.ids[0]].parent_commit_id == commit.id
    images = {i.name: i for i in await actions.list_images("local")}
    assert images["default"].in_use >= 4
    with pytest.raises(Conflict, match="in use"):
        await actions.delete_image("local", "default")


async def test_upload_refuses_a_missing_file_and_uploads_a_real_one(tmp_path):
    actions, provider, _ = make()
    with pytest.raises(ProviderError, match="is not a readable file"):
        await actions.upload_image("local", "x", tmp_path / "missing.tar")
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"x" * 2048)
    progress: list[tuple[int, int]] = []
    outcome = await actions.upload_image(
        "local", "mine", tarball, lambda done, total: progress.append((done, total))
    )
    assert outcome.message == "Uploaded image mine" and progress[-1] == (2048, 2048)
    assert provider.images["mine"].size_bytes == 2048


def test_parse_labels():
    assert parse_labels(" env = prod , team=ui,, ") == {"env": "prod", "team": "ui"}
    assert parse_labels("") == {}
    with pytest.raises(ValueError, match="'oops' is not key=value"):
        parse_labels("a=1,oops")
    with pytest.raises(ValueError):
        parse_labels("=v")


def test_dependants_walk_commits_and_their_vms():
    provider = demo_provider()
    root = provider.vms["vm-3f2a91c0"]
    found = [n.id for n in dependants(provider.vms.values(), provider.commits.values(), root)]
    assert set(found) == {"c-5b0e3d12", "vm-8c1d77e4", "vm-a90b2f6d", "c-91aa04be", "vm-d4e6f801"}
    assert dependants(provider.vms.values(), provider.commits.values(), provider.vms["vm-17c0ffee"]) == []


class PowerProvider(DemoProvider):
    """The demo provider with Swiftor-style start/stop."""

    capabilities = Capabilities(can_start_stop=True)

    async def start_vm(self, vm_id: str) -> None:
        self._enter("start_vm", vm_id)
        self.vms[vm_id] = self._vm(vm_id).model_copy(update={"state": VmState.RUNNING})

    async def stop_vm(self, vm_id: str) -> None:
        self._enter("stop_vm", vm_id)
        self.vms[vm_id] = self._vm(vm_id).model_copy(update={"state": VmState.STOPPED})


async def test_start_stop_stops_a_live_vm_and_starts_a_stopped_one():
    provider = PowerProvider("local", vms=[Vm(provider="local", id="d1", state=VmState.RUNNING)])
    actions, _, changes = make(provider)
    outcome = await actions.start_stop(provider.vms["d1"])
    assert outcome.message == "Stopped d1" and provider.vms["d1"].state is VmState.STOPPED
    assert changes == [{("local", "d1"): "stopping"}, {}]
    outcome = await actions.start_stop(provider.vms["d1"])
    assert outcome.message == "Started d1" and provider.vms["d1"].state is VmState.RUNNING
    assert [call[0] for call in provider.calls] == ["stop_vm", "start_vm"]


async def test_swiftor_extras_go_through_actions_with_badge_and_kept_error():
    from pydantic import SecretStr

    from tests.ui.swiftor_fake import VM_ID, FakeSwiftor

    fake = FakeSwiftor()
    fake.add_vm("desk")
    provider = fake.provider()
    changes: list[dict] = []
    actions = Actions({"swiftor": provider}, lambda key: changes.append(dict(actions.pending)))
    vm = Vm(provider="swiftor", provider_kind="swiftor", id=VM_ID, state=VmState.STOPPED)

    outcome = await actions.set_secret(vm, "API_TOKEN", SecretStr("s3cr3t"))
    assert outcome.message == "Saved API_TOKEN; it applies at the VM's next start"
    assert changes == [{vm.key: "saving secret"}, {}]  # the row's badge, then gone
    assert "s3cr3t" not in outcome.message and fake.secrets[VM_ID]["API_TOKEN"] == "s3cr3t"

    with pytest.raises(NotFound):
        await actions.delete_secret(vm, "NOT_THERE")
    assert actions.errors[vm.key] == "404: Secret not found: NOT_THERE"  # kept for the details pane
    await actions.add_mapping(vm, "web", 8080)
    assert vm.key not in actions.errors  # a success clears it
    assert [m.name for m in await actions.list_mappings(vm)] == ["web"]
    assert actions.mappings_api(vm).desktop_url(VM_ID).startswith("https://")


async def test_extras_a_provider_lacks_are_unsupported_not_attribute_errors():
    actions, provider, _ = make()
    vm = next(iter(provider.vms.values()))
    with pytest.raises(Unsupported, match="demo has no secrets"):
        await actions.list_secrets(vm)
    with pytest.raises(Unsupported, match="demo has no networking"):
        await actions.list_mappings(vm)
    with pytest.raises(Unsupported, match="demo has no desktops"):
        await actions.account_plan("local")
