"""ActionLog: every change through `Actions` is one entry with its requests, bounded, persisted 0600,
and exported as vers-cli commands and curl lines without the token or a secret's value."""

from __future__ import annotations

import json
import stat

import httpx
import pytest
from pydantic import SecretStr

from tests.ui.swiftor_fake import VM_ID, FakeSwiftor
from vmtui.core.errors import NotFound
from vmtui.core.models import Vm, VmConfig, VmState
from vmtui.providers.vers import VersProvider
from vmtui.services.action_log import ActionLog, LogEntry
from vmtui.services.actions import Actions

TOKEN = "tok-very-secret-0123456789"


def vers_server(request: httpx.Request) -> httpx.Response:
    """Just enough of Vers for create, branch, commit and a refused delete."""
    path = request.url.path
    if request.method == "POST" and path == "/api/v1/vm/new_root":
        return httpx.Response(201, json={"id": "vm-new"})
    if request.method == "POST" and path == "/api/v1/vm/vm-new/branch":
        return httpx.Response(201, json={"vms": [{"id": "vm-b1"}, {"id": "vm-b2"}]})
    if request.method == "POST" and path == "/api/v1/vm/vm-new/commit":
        return httpx.Response(201, json={"commit_id": "c-1"})
    if request.method == "DELETE":
        return httpx.Response(409, json={"error": "VM has running children"})
    return httpx.Response(404, json={"error": f"no route {request.method} {path}"})


def vers_actions(log: ActionLog) -> Actions:
    provider = VersProvider("prod", "https://api.vers.sh", TOKEN, transport=httpx.MockTransport(vers_server))
    return Actions({"prod": provider}, log=log)


def vm(vm_id: str, profile: str = "prod", kind: str = "vers") -> Vm:
    return Vm(provider=profile, provider_kind=kind, id=vm_id, state=VmState.RUNNING)


async def test_each_change_is_one_entry_with_result_ids_and_requests():
    log = ActionLog()
    actions = vers_actions(log)
    await actions.create("prod", VmConfig(vcpu_count=2, mem_size_mib=512))
    await actions.branch(vm("vm-new"), 2)
    await actions.commit(vm("vm-new"), name="snap")
    with pytest.raises(Exception, match="running children"):
        await actions.delete(vm("vm-new"))

    create, branch, commit, delete = log.entries
    assert (create.action, create.target, create.result, create.ids) == ("create", "prod", "ok", ("vm-new",))
    assert create.vers == ("vers", "run", "--vcpu-count", "2", "--mem-size", "512")
    assert branch.ids == ("vm-b1", "vm-b2") and branch.vers == ("vers", "branch", "vm-new", "--count", "2")
    assert commit.vers == ("vers", "commit", "create", "vm-new") and commit.ids == ("c-1",)
    assert not delete.ok and "running children" in delete.result
    assert [r.status for r in delete.requests] == [409]
    assert commit.requests[0].method == "POST"
    assert json.loads(commit.requests[0].body) == {"name": "snap"}


async def test_exports_replay_the_successes_and_never_carry_the_token():
    log = ActionLog()
    actions = vers_actions(log)
    await actions.branch(vm("vm-new"), 2)
    with pytest.raises(Exception, match="running children"):
        await actions.delete(vm("vm-new"))

    vers = log.script("vers")
    assert "\nvers branch vm-new --count 2\n" in vers
    assert "\n# vers delete vm-new\n" in vers  # the refused one stays a comment
    curl = log.script("curl")
    assert TOKEN not in curl and TOKEN not in vers
    branch_line = next(line for line in curl.splitlines() if "/branch" in line)
    assert branch_line.startswith("curl -sS -X POST")
    assert '"Authorization: Bearer $VERS_API_KEY"' in branch_line
    assert "https://api.vers.sh/api/v1/vm/vm-new/branch?count=2" in branch_line
    assert any(line.startswith("# curl") and "DELETE" in line for line in curl.splitlines())
    with pytest.raises(ValueError, match="no export named"):
        log.script("powershell")


async def test_a_secret_value_is_masked_before_it_is_kept():
    fake = FakeSwiftor()
    fake.add_vm("desk")
    provider = fake.provider()
    log = ActionLog()
    actions = Actions({"swiftor": provider}, log=log)
    desk = vm(VM_ID, "swiftor", "swiftor")

    await actions.set_secret(desk, "API_TOKEN", SecretStr("s3cr3t-value"))
    with pytest.raises(NotFound):
        await actions.delete_secret(desk, "NOT_THERE")

    assert fake.secrets[VM_ID]["API_TOKEN"] == "s3cr3t-value"  # the server got it
    kept = repr(list(log.entries)) + log.script("curl") + log.script("vers")
    assert "s3cr3t-value" not in kept
    (request,) = log.entries[0].requests
    assert json.loads(request.body) == {"vmid": VM_ID, "key": "API_TOKEN", "value": "***"}
    assert "(vers-cli has no command for set secret)" in log.script("vers")
    assert log.entries[1].result == "404: Secret not found: NOT_THERE"


async def test_the_log_keeps_the_last_entries_only():
    log = ActionLog(limit=3)
    for n in range(5):
        log.append("p", "pause", f"vm-{n}", "ok", (), (), ())
    assert [entry.target for entry in log.entries] == ["vm-2", "vm-3", "vm-4"]


async def test_a_session_is_persisted_0600_and_reads_back(tmp_path):
    log = ActionLog(directory=tmp_path / "log", session="s1")
    actions = vers_actions(log)
    await actions.branch(vm("vm-new"), 2)
    with pytest.raises(Exception, match="running children"):
        await actions.delete(vm("vm-new"))

    assert log.path == tmp_path / "log" / "s1.jsonl"
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert ActionLog.read(log.path) == list(log.entries)
    assert TOKEN not in log.path.read_text()
    exported = log.export("curl", tmp_path / "log")
    assert exported.name == "s1-curl.sh" and stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert exported.read_text() == log.script("curl")


def test_a_full_disk_loses_the_file_copy_not_the_entry(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = ActionLog(directory=blocker, session="s")
    entry = log.append("p", "delete", "vm-1", "ok", ("vers", "delete", "vm-1"), (), ())
    assert list(log.entries) == [entry] and isinstance(entry, LogEntry)
