"""The official vers-sdk 1.20.0 client against the real local engine (in-process app, temp state dir,
real sandboxes): every operation but `deploy`, each answer decoded strictly into the SDK's models.

Two SDK methods cannot decode what they call, whatever the server: `exec_vm_stream` and
`exec_vm_stream_attach` read an NDJSON stream with `resp.json()`, which only parses a one-line body.
Those two are driven through the same client's request path (`_request`: same auth, idempotency key,
retries) and their NDJSON lines decoded one by one.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import httpx
import pytest
from vers_sdk import BadRequestError, ConflictError, NotFoundError, UnprocessableEntityError, VersSdkClient
from vers_sdk import models as sdk
from vers_sdk.models import (
    BranchByRefParams,
    BranchVmParams,
    CreateNewRootVmParams,
    ListDomainsParams,
    ReadFileVmParams,
    VmLogsParams,
)

from tests.contract.strict import strict
from vmtui.local.api.app import create_app
from vmtui.local.catalog import ORG_NAME

pytestmark = pytest.mark.root

TOKEN = "sdk-token-" + "s" * 32


@pytest.fixture
async def client(engine):
    transport = httpx.ASGITransport(app=create_app(engine, TOKEN), raise_app_exceptions=False)
    http = httpx.AsyncClient(
        transport=transport,
        base_url="http://engine.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    )
    async with VersSdkClient(base_url="http://engine.test", http_client=http, max_retries=0) as sdk_client:
        yield sdk_client


async def new_vm(client: VersSdkClient, **config) -> str:
    answer = await client.create_new_root_vm(
        {"vm_config": {"mem_size_mib": 256, **config}}, params=CreateNewRootVmParams(wait_boot=True)
    )
    return strict(sdk.NewVmResponse, answer).vm_id


async def ndjson(client: VersSdkClient, path: str, body: dict) -> list[dict]:
    response = await client._request("POST", path, None, json=body)
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


# -- VMs ----------------------------------------------------------------------------------------


async def test_vm_lifecycle_states_labels_and_metadata(client):
    vm_id = await new_vm(client, vcpu_count=1, labels={"team": "red", "tier": "web"})
    [listed] = strict(list[sdk.VM], await client.list_vms())
    assert listed.vm_id == vm_id and listed.state is sdk.VmState.RUNNING
    assert listed.labels == {"team": "red", "tier": "web"}
    meta = strict(sdk.VmMetadataResponse, await client.get_vm_metadata(vm_id))
    assert (meta.ip, meta.vcpu_count, meta.mem_size_mib) == ("127.0.0.1", 1, 256)
    assert meta.parent_commit_id is None and meta.deleted_at is None

    await client.update_vm_state(vm_id, {"state": "Sleeping"})
    assert strict(sdk.VM, await client.vm_status(vm_id)).state is sdk.VmState.PAUSED
    await client.update_vm_state(vm_id, {"state": "Running"})
    await client.update_vm_state(vm_id, {"state": "Paused"})  # the seed's word works too
    assert strict(sdk.VmMetadataResponse, await client.get_vm_metadata(vm_id)).state is sdk.VmState.PAUSED
    await client.update_vm_state(vm_id, {"state": "Running"})
    with pytest.raises(UnprocessableEntityError):
        await client.update_vm_state(vm_id, {"state": "Hibernating"})

    await client.upsert_vm_labels(vm_id, {"labels": {"tier": "db", "owner": "ana"}})
    assert strict(sdk.VM, await client.vm_status(vm_id)).labels == {
        "team": "red",
        "tier": "db",
        "owner": "ana",
    }
    with pytest.raises(BadRequestError) as missing:
        await client.upsert_vm_labels(vm_id, {})
    assert missing.value.body["success"] is False and "labels" in missing.value.error_message
    await client.delete_vm_label(vm_id, "team")
    assert strict(sdk.VM, await client.vm_status(vm_id)).labels == {"tier": "db", "owner": "ana"}
    with pytest.raises(NotFoundError):
        await client.delete_vm_label(vm_id, "team")
    await client.replace_vm_labels(vm_id, {"labels": {"only": "this"}})
    assert strict(sdk.VM, await client.vm_status(vm_id)).labels == {"only": "this"}
    await client.replace_vm_labels(vm_id, {"labels": {}})
    assert strict(sdk.VM, await client.vm_status(vm_id)).labels == {}

    key = strict(sdk.VmSshKeyResponse, await client.ssh_key(vm_id))
    assert key.ssh_private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert strict(sdk.VmDeleteResponse, await client.delete_vm(vm_id)).vm_id == vm_id
    with pytest.raises(NotFoundError) as gone:
        await client.vm_status(vm_id)
    assert strict(sdk.ErrorResponse, gone.value.body).success is False


async def test_files_exec_stream_attach_and_logs(client):
    vm_id = await new_vm(client)
    await client.write_file_vm(
        vm_id, {"path": "/root/hello.txt", "content_b64": base64.b64encode(b"hi\n").decode(), "mode": 0o600}
    )
    read = strict(
        sdk.VmReadFileResponse, await client.read_file_vm(vm_id, ReadFileVmParams("/root/hello.txt"))
    )
    assert base64.b64decode(read.content_b64) == b"hi\n"
    done = strict(
        sdk.VmExecResponse,
        await client.exec_vm(vm_id, {"command": ["cat", "/root/hello.txt"], "exec_id": "sync-1"}),
    )
    assert (done.exit_code, done.stdout, done.exec_id) == (0, "hi\n", "sync-1")

    script = "echo out; echo err >&2; exit 7"
    events = await ndjson(
        client, f"/api/v1/vm/{vm_id}/exec/stream", {"command": ["sh", "-c", script], "exec_id": "s-1"}
    )
    chunks = {e["stream"]: base64.b64decode(e["data_b64"]) for e in events if e["type"] == "chunk"}
    assert chunks == {"stdout": b"out\n", "stderr": b"err\n"}
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 7
    assert [e["cursor"] for e in events] == list(range(1, len(events) + 1))

    replay = await ndjson(client, f"/api/v1/vm/{vm_id}/exec/stream/attach", {"exec_id": "s-1", "cursor": 1})
    assert replay == events[1:]
    assert (
        await ndjson(
            client, f"/api/v1/vm/{vm_id}/exec/stream/attach", {"exec_id": "s-1", "from_latest": True}
        )
        == []
    )
    with pytest.raises(NotFoundError):
        await client._request("POST", f"/api/v1/vm/{vm_id}/exec/stream/attach", None, json={"exec_id": "no"})

    logs = strict(sdk.VmExecLogResponse, await client.vm_logs(vm_id, VmLogsParams(stream="stderr")))
    assert [base64.b64decode(e.data_b64) for e in logs.entries] == [b"err\n"] and logs.eof
    assert logs.entries[0].exec_id == "s-1" and logs.entries[0].stream is sdk.VmExecLogStream.STDERR
    everything = strict(sdk.VmExecLogResponse, await client.vm_logs(vm_id, VmLogsParams(max_entries=1)))
    assert len(everything.entries) == 1 and not everything.eof and everything.next_offset > 0


def _has_cap_sys_resource() -> bool:
    """An online ext4 grow needs CAP_SYS_RESOURCE (some containers drop it even for root)."""
    status = Path("/proc/self/status").read_text()
    effective = int(status.split("CapEff:")[1].split()[0], 16)
    return bool(effective >> 24 & 1)


async def test_disk_resize_grows_the_live_disk_or_changes_nothing(client):
    vm_id = await new_vm(client, fs_size_mib=64)

    async def disk_kib() -> int:
        answer = await client.exec_vm(vm_id, {"command": ["sh", "-c", "df -k / | tail -1"]})
        return int(strict(sdk.VmExecResponse, answer).stdout.split()[1])

    before = await disk_kib()
    with pytest.raises(BadRequestError):
        await client.resize_vm_disk(vm_id, {"fs_size_mib": 32})  # only ever larger
    with pytest.raises(BadRequestError) as too_big:
        await client.resize_vm_disk(vm_id, {"fs_size_mib": 16_000_000})  # more than the host has
    assert "larger than the host's disk" in too_big.value.error_message
    if _has_cap_sys_resource():
        await client.resize_vm_disk(vm_id, {"fs_size_mib": 192})
        assert await disk_kib() > before + 100 * 1024
        assert (await client.get_vm_metadata(vm_id))["fs_size_mib"] == 192
    else:
        with pytest.raises(ConflictError) as refused:
            await client.resize_vm_disk(vm_id, {"fs_size_mib": 192})
        assert "cannot grow the disk" in refused.value.error_message
        assert await disk_kib() == before
        assert (await client.get_vm_metadata(vm_id))["fs_size_mib"] == 64
    done = await client.exec_vm(vm_id, {"command": ["sh", "-c", "echo ok > /root/after && cat /root/after"]})
    assert strict(sdk.VmExecResponse, done).stdout == "ok\n"


# -- commits, tags, branches ----------------------------------------------------------------------


async def test_commits_tags_branches_and_restores(client):
    vm_id = await new_vm(client)
    commit = strict(sdk.VmCommitResponse, await client.commit_vm(vm_id, {})).commit_id
    named = strict(
        sdk.VmCommitResponse, await client.commit_vm(vm_id, {"name": "base", "description": "clean"})
    ).commit_id
    page = strict(sdk.ListCommitsResponse, await client.list_commits())
    assert {c.commit_id for c in page.commits} == {commit, named} and page.total == 2
    parents = strict(list[sdk.VmCommitEntity], await client.list_parent_commits(named))
    assert parents[0].id == named and parents[0].parent_vm_id == vm_id

    assert strict(sdk.ListCommitsResponse, await client.list_public_commits()).commits == []
    published = strict(sdk.CommitInfo, await client.update_commit(named, {"is_public": True, "name": "v1"}))
    assert published.is_public and published.name == "v1"
    [public] = strict(sdk.ListCommitsResponse, await client.list_public_commits()).commits
    assert public.commit_id == named

    created = strict(
        sdk.CreateTagResponse, await client.create_tag({"tag_name": "stable", "commit_id": commit})
    )
    assert (created.tag_name, created.commit_id) == ("stable", commit)
    with pytest.raises(ConflictError):
        await client.create_tag({"tag_name": "stable", "commit_id": commit})
    with pytest.raises(NotFoundError):
        await client.create_tag({"tag_name": "ghost", "commit_id": "no-such-commit"})
    await client.update_tag("stable", {"commit_id": named, "description": "moved"})
    tag = strict(sdk.TagInfo, await client.get_tag("stable"))
    assert (tag.commit_id, tag.description, tag.tag_id) == (named, "moved", created.tag_id)
    assert [t.tag_name for t in strict(sdk.ListTagsResponse, await client.list_tags()).tags] == ["stable"]

    by_tag = strict(sdk.NewVmsResponse, await client.branch_by_tag("stable"))
    from_tag = strict(sdk.NewVmResponse, await client.restore_from_commit({"tag_name": "stable"}))
    by_vm = strict(sdk.NewVmsResponse, await client.branch_by_vm(vm_id))
    auto = strict(sdk.NewVmsResponse, await client.branch_vm(commit, params=BranchVmParams(count=2)))
    by_commit = strict(sdk.NewVmsResponse, await client.branch_by_commit(commit))
    assert len(auto.vms) == 2
    for child in (*by_tag.vms, from_tag):
        assert (await client.get_vm_metadata(child.vm_id))["parent_commit_id"] == named
    for child in (*auto.vms, *by_commit.vms):
        assert (await client.get_vm_metadata(child.vm_id))["parent_commit_id"] == commit
    assert (await client.get_vm_metadata(by_vm.vms[0].vm_id))["grandparent_vm_id"] == vm_id

    await client.delete_tag("stable")
    with pytest.raises(NotFoundError):
        await client.branch_by_tag("stable")
    for child in (*by_tag.vms, from_tag, *by_vm.vms, *auto.vms, *by_commit.vms):
        await client.delete_vm(child.vm_id)
    await client.delete_commit(commit)
    left = {c.commit_id for c in strict(sdk.ListCommitsResponse, await client.list_commits()).commits}
    assert named in left and commit not in left  # (branching by VM made a commit of its own)


async def test_repositories_tags_refs_public_listing_and_fork(client):
    vm_id = await new_vm(client)
    commit = strict(sdk.VmCommitResponse, await client.commit_vm(vm_id, {"name": "app"})).commit_id
    repo = strict(
        sdk.CreateRepositoryResponse, await client.create_repository({"name": "app", "description": "d"})
    )
    assert repo.name == "app"
    info = strict(sdk.RepositoryInfo, await client.get_repository("app"))
    assert (info.repo_id, info.is_public, info.description) == (repo.repo_id, False, "d")
    assert [
        r.name for r in strict(sdk.ListRepositoriesResponse, await client.list_repositories()).repositories
    ] == ["app"]
    tag = strict(
        sdk.CreateRepoTagResponse,
        await client.create_repo_tag("app", {"tag_name": "v1", "commit_id": commit}),
    )
    assert (tag.reference, tag.commit_id) == ("app:v1", commit)
    listed = strict(sdk.ListRepoTagsResponse, await client.list_repo_tags("app"))
    assert listed.repository == "app" and [t.reference for t in listed.tags] == ["app:v1"]
    await client.update_repo_tag("app", "v1", {"description": "first"})
    assert strict(sdk.RepoTagInfo, await client.get_repo_tag("app", "v1")).description == "first"

    by_ref = strict(
        sdk.NewVmsResponse, await client.branch_by_ref("app", "v1", params=BranchByRefParams(count=1))
    )
    from_ref = strict(sdk.NewVmResponse, await client.restore_from_commit({"ref": "app:v1"}))
    for child in (*by_ref.vms, from_ref):
        assert (await client.get_vm_metadata(child.vm_id))["parent_commit_id"] == commit
        await client.delete_vm(child.vm_id)

    assert (
        strict(sdk.ListPublicRepositoriesResponse, await client.list_public_repositories()).repositories == []
    )
    with pytest.raises(NotFoundError):
        await client.get_public_repository(ORG_NAME, "app")
    await client.set_repository_visibility("app", {"is_public": True})
    [public] = strict(
        sdk.ListPublicRepositoriesResponse, await client.list_public_repositories()
    ).repositories
    assert (public.full_name, public.org_name) == (f"{ORG_NAME}/app", ORG_NAME)
    assert (
        strict(sdk.PublicRepositoryInfo, await client.get_public_repository(ORG_NAME, "app")).repo_id
        == repo.repo_id
    )
    public_tags = strict(sdk.ListRepoTagsResponse, await client.list_public_repo_tags(ORG_NAME, "app"))
    assert [t.tag_name for t in public_tags.tags] == ["v1"]
    assert (
        strict(sdk.RepoTagInfo, await client.get_public_repo_tag(ORG_NAME, "app", "v1")).commit_id == commit
    )

    fork = strict(
        sdk.ForkRepositoryResponse,
        await client.fork_repository(
            {"source_org": ORG_NAME, "source_repo": "app", "source_tag": "v1", "repo_name": "mine"}
        ),
    )
    assert (fork.repo_name, fork.tag_name, fork.reference) == ("mine", "v1", "mine:v1")
    assert strict(sdk.RepoTagInfo, await client.get_repo_tag("mine", "v1")).commit_id == fork.commit_id
    assert (await client.get_vm_metadata(fork.vm_id))["parent_commit_id"] == commit  # forked VM: from the tag
    parents = strict(list[sdk.VmCommitEntity], await client.list_parent_commits(fork.commit_id))
    assert [p.id for p in parents] == [fork.commit_id, commit] and parents[0].parent_vm_id == fork.vm_id

    await client.delete_repo_tag("app", "v1")
    with pytest.raises(NotFoundError):
        await client.restore_from_commit({"ref": "app:v1"})
    await client.delete_repository("app")
    with pytest.raises(NotFoundError):
        await client.get_repository("app")


# -- images, env vars, domains, account ------------------------------------------------------------


def _tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("bin", "etc"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        data = b"tiny\n"
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_images_upload_status_list_delete(client):
    response = await client._request(
        "POST",
        "/api/v1/images/upload",
        None,
        params={"image_name": "tiny"},
        content=_tarball(),
        headers={"Content-Type": "application/x-tar"},
    )
    uploaded = strict(sdk.UploadBaseImageResponse, response.json())
    assert (uploaded.image_name, uploaded.status) == ("tiny", "completed")
    status = strict(sdk.BaseImageStatusResponse, await client.get_image_status("tiny"))
    assert (status.image_name, status.status) == ("tiny", "completed")
    images = strict(sdk.ListBaseImagesResponse, await client.list_images())
    tiny = next(i for i in images.images if i.image_name == "tiny")
    assert images.total == len(images.images) >= 2 and tiny.source_type == "upload"
    with pytest.raises(BadRequestError) as refused:
        await client.create_image({"image_name": "x", "source": {"type": "image_ref", "image_ref": "ubuntu"}})
    assert "upload" in refused.value.error_message
    deleted = strict(sdk.DeleteBaseImageResponse, await client.delete_image(tiny.base_image_id))
    assert deleted.deleted and deleted.base_image_id == tiny.base_image_id
    with pytest.raises(NotFoundError):
        await client.get_image_status("tiny")


async def test_env_vars_domains_whoami_key_and_version(client):
    assert strict(sdk.EnvVarsResponse, await client.set_env_vars({"vars": {"A": "1", "B": "2"}})).vars == {
        "A": "1",
        "B": "2",
    }
    await client.delete_env_var("A")
    assert strict(sdk.EnvVarsResponse, await client.list_env_vars()).vars == {"B": "2"}
    assert strict(
        sdk.EnvVarsResponse, await client.set_env_vars({"vars": {"C": "3"}, "replace": True})
    ).vars == {"C": "3"}

    vm_id = await new_vm(client)
    domain = strict(
        sdk.DomainResponse, await client.create_domain({"domain": "App.Example.test", "vm_id": vm_id})
    )
    assert (domain.domain, domain.vm_id) == ("app.example.test", vm_id)
    assert strict(sdk.DomainResponse, await client.get_domain(domain.domain_id)) == domain
    assert strict(list[sdk.DomainResponse], await client.list_domains(ListDomainsParams(vm_id=vm_id))) == [
        domain
    ]
    with pytest.raises(ConflictError):
        await client.create_domain({"domain": "app.example.test", "vm_id": vm_id})
    with pytest.raises(BadRequestError):
        await client.create_domain({"domain": "not a domain", "vm_id": vm_id})
    assert (
        strict(sdk.DeleteDomainResponse, await client.delete_domain(domain.domain_id)).domain_id
        == domain.domain_id
    )
    assert strict(list[sdk.DomainResponse], await client.list_domains()) == []

    me = strict(sdk.WhoamiResponse, await client.whoami_handler())
    assert me.org.name == ORG_NAME and me.api_key.label == "vmtui serve"
    assert TOKEN not in json.dumps(await client.whoami_handler())
    valid = strict(sdk.ValidateKeyResponse, await client.validate_key())
    assert valid.valid is True
    version = strict(sdk.OrchestratorVersion, await client.version_handler())
    assert version.executable_name == "vmtui-serve" and version.workspace_version
