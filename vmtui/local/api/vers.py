"""The Vers-compatible routes (mounted under `/api/v1`)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import StreamingResponse

from vmtui import __version__
from vmtui.core.errors import BadRequest, NotFound
from vmtui.local.api.deps import EngineDep, ListedRowsDep
from vmtui.local.api.etag import NOT_MODIFIED, etagged
from vmtui.local.api.schemas import (
    Capabilities,
    CommitIdOut,
    CommitIn,
    CommitOut,
    CommitParentOut,
    CommitPatchIn,
    CommitsPage,
    DiskIn,
    EnvVarsIn,
    EnvVarsOut,
    ExecAttachIn,
    ExecIn,
    ExecLogEntryOut,
    ExecLogOut,
    ExecOut,
    FileContentOut,
    FileDiffOut,
    FileIn,
    FileTextDiffOut,
    FromCommitIn,
    LabelsIn,
    NewRootIn,
    SshKeyOut,
    StateIn,
    VersionOut,
    VmIdOut,
    VmListItemOut,
    VmMetadataOut,
    VmMetricsOut,
    VmOut,
    VmsOut,
)
from vmtui.local.engine import BRANCH_MAX, DEFAULT_IMAGE, Engine
from vmtui.local.layer_diff import LayerDiff

KERNELS = {"default.bin"}
MAX_OFFSET = 2**63 - 1
"""Largest offset SQLite can take; larger ones are refused as bad requests instead of failing inside."""

Count = Annotated[int, Query(ge=0, le=BRANCH_MAX)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]

router = APIRouter()


@router.get("/vms", response_model=list[VmListItemOut], responses=NOT_MODIFIED)
@router.get("/vm", response_model=list[VmListItemOut], responses=NOT_MODIFIED)
async def list_vms(engine: EngineDep, listed: ListedRowsDep, request: Request) -> Response:
    """With each VM's lineage (no metadata request per VM needed); answers an `ETag`, and 304 to a
    matching `If-None-Match`."""
    return etagged(request, listed.body(engine, engine.list_vms()))


@router.post("/vm/new_root", status_code=201)
async def new_root(engine: EngineDep, body: NewRootIn, wait_boot: bool = False) -> VmIdOut:
    config = body.vm_config
    if config.kernel_name is not None and config.kernel_name not in KERNELS:
        raise NotFound(f"kernel not found: {config.kernel_name}")
    vm = await engine.create_vm(
        image=config.image_name or DEFAULT_IMAGE,
        vcpu_count=config.vcpu_count or 1,
        mem_size_mib=config.mem_size_mib or 512,
        fs_size_mib=config.fs_size_mib or 1024,
        labels=config.labels or {},
        wait_boot=wait_boot,
    )
    return VmIdOut(vm_id=vm.id)


@router.post("/vm/from_commit", status_code=201)
async def from_commit(engine: EngineDep, body: FromCommitIn) -> VmIdOut:
    """From a commit id, an org tag (`tag_name`) or a repository reference (`ref`: `repo:tag`)."""
    if body.commit_id is not None:
        commit_id = body.commit_id
    elif body.tag_name is not None:
        commit_id = engine.catalog.get_tag(body.tag_name).commit_id
    else:
        commit_id = engine.catalog.resolve_ref(body.ref or "")
    vm = await engine.from_commit(commit_id)
    return VmIdOut(vm_id=vm.id)


@router.post("/vm/branch/by_vm/{vm_id}", status_code=201)
async def branch_by_vm(engine: EngineDep, vm_id: str, count: Count = 1, keep_paused: bool = False) -> VmsOut:
    return VmsOut.of(await engine.branch(vm_id, count, keep_paused=keep_paused, source_kind="vm"))


@router.post("/vm/branch/by_commit/{commit_id}", status_code=201)
async def branch_by_commit(engine: EngineDep, commit_id: str, count: Count = 1) -> VmsOut:
    return VmsOut.of(await engine.branch(commit_id, count, source_kind="commit"))


@router.post("/vm/branch/by_tag/{tag_name}", status_code=201)
async def branch_by_tag(engine: EngineDep, tag_name: str, count: Count = 1) -> VmsOut:
    commit_id = engine.catalog.get_tag(tag_name).commit_id
    return VmsOut.of(await engine.branch(commit_id, count, source_kind="commit"))


@router.post("/vm/branch/by_ref/{repo_name}/{tag_name}", status_code=201)
async def branch_by_ref(engine: EngineDep, repo_name: str, tag_name: str, count: Count = 1) -> VmsOut:
    commit_id = engine.catalog.resolve_ref(f"{repo_name}:{tag_name}")
    return VmsOut.of(await engine.branch(commit_id, count, source_kind="commit"))


@router.get("/vm/commits/{commit_id}/parents")
async def commit_parents(engine: EngineDep, commit_id: str) -> list[CommitParentOut]:
    return [CommitParentOut.of(engine, commit) for commit in engine.commit_parents(commit_id)]


@router.get("/vm/{vm_id}/status")
async def vm_status(engine: EngineDep, vm_id: str) -> VmOut:
    return VmOut.of(engine, engine.get_vm(vm_id))


@router.get("/vm/{vm_id}/metadata")
async def vm_metadata(engine: EngineDep, vm_id: str) -> VmMetadataOut:
    return VmMetadataOut.of(engine, engine.get_vm(vm_id))


# -- resource metrics (vmtui's own route: the TUI's CPU and memory sparklines) ------------------


@router.get("/vm/{vm_id}/metrics")
async def vm_metrics(engine: EngineDep, vm_id: str) -> VmMetricsOut:
    """CPU time and memory in use from the VM's cgroup; nulls when the VM is not running."""
    vm = engine.get_vm(vm_id)
    cpu, memory = engine.vm_usage(vm_id)
    return VmMetricsOut(
        vm_id=vm_id,
        cpu_usage_usec=cpu,
        memory_current_bytes=memory,
        memory_limit_bytes=vm.mem_size_mib * 1024 * 1024,
        vcpu_count=vm.vcpu_count,
        sampled_at=time.monotonic(),
    )


# -- file diffs (vmtui's own routes: the TUI's diff screen) ------------------------------------

DiffPath = Annotated[str, Query(min_length=1, max_length=4096, description="absolute path in the VM")]


@router.get("/vm/commits/{commit_id}/diff/{other_commit_id}")
async def diff_commits(engine: EngineDep, commit_id: str, other_commit_id: str) -> FileDiffOut:
    """Files added, removed and changed from `commit_id` to `other_commit_id`, read from the layers
    (no VM runs)."""
    diff = engine.commit_diff(commit_id, other_commit_id)
    return FileDiffOut.of(
        commit_id, other_commit_id, await engine.in_diff_thread(diff, diff.changes), diff.truncated
    )


@router.get("/vm/commits/{commit_id}/diff/{other_commit_id}/text")
async def diff_commits_text(
    engine: EngineDep, commit_id: str, other_commit_id: str, path: DiffPath
) -> FileTextDiffOut:
    return await _text_diff(engine, engine.commit_diff(commit_id, other_commit_id), path)


@router.get("/vm/{vm_id}/diff")
async def diff_vm(engine: EngineDep, vm_id: str) -> FileDiffOut:
    """Files the VM added, removed and changed since the commit it started from (or its image)."""
    diff = engine.vm_diff(vm_id)
    parent = engine.get_vm(vm_id).parent_commit_id
    return FileDiffOut.of(parent, vm_id, await engine.in_diff_thread(diff, diff.changes), diff.truncated)


@router.get("/vm/{vm_id}/diff/text")
async def diff_vm_text(engine: EngineDep, vm_id: str, path: DiffPath) -> FileTextDiffOut:
    return await _text_diff(engine, engine.vm_diff(vm_id), path)


async def _text_diff(engine: Engine, diff: LayerDiff, path: str) -> FileTextDiffOut:
    try:
        pair = await engine.in_diff_thread(diff, lambda: diff.text(path))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return FileTextDiffOut(path=path, before=pair.before, after=pair.after, binary=pair.binary)


@router.delete("/vm/{vm_id}")
async def delete_vm(engine: EngineDep, vm_id: str) -> VmIdOut:
    await engine.delete_vm(vm_id)
    return VmIdOut(vm_id=vm_id)


@router.patch("/vm/{vm_id}/state", response_class=Response, responses={200: {"description": "done"}})
async def set_state(engine: EngineDep, vm_id: str, body: StateIn) -> Response:
    await engine.set_paused(vm_id, body.state != "Running")
    return Response(status_code=200)


@router.patch("/vm/{vm_id}/label", response_class=Response, responses={200: {"description": "done"}})
async def upsert_labels(engine: EngineDep, vm_id: str, body: LabelsIn) -> Response:
    """Add or overwrite these labels, keep the others."""
    await engine.upsert_labels(vm_id, _required_labels(body))
    return Response(status_code=200)


@router.put("/vm/{vm_id}/labels", response_class=Response, responses={200: {"description": "done"}})
async def replace_labels(engine: EngineDep, vm_id: str, body: LabelsIn) -> Response:
    """The VM's labels become exactly these (`{}` clears them)."""
    await engine.set_labels(vm_id, _required_labels(body))
    return Response(status_code=200)


@router.delete(
    "/vm/{vm_id}/label/{label_name}", response_class=Response, responses={200: {"description": "done"}}
)
async def delete_label(engine: EngineDep, vm_id: str, label_name: str) -> Response:
    await engine.delete_label(vm_id, label_name)
    return Response(status_code=200)


def _required_labels(body: LabelsIn) -> dict[str, str]:
    if body.labels is None:
        raise BadRequest("Failed to deserialize the JSON body: missing field `labels`")
    return body.labels


@router.patch("/vm/{vm_id}/disk", response_class=Response, responses={200: {"description": "grown"}})
async def resize_disk(engine: EngineDep, vm_id: str, body: DiskIn) -> Response:
    await engine.resize_disk(vm_id, body.fs_size_mib)
    return Response(status_code=200)


@router.post("/vm/{vm_or_commit_id}/branch", status_code=201)
async def branch(
    engine: EngineDep, vm_or_commit_id: str, count: Count = 1, keep_paused: bool = False
) -> VmsOut:
    return VmsOut.of(await engine.branch(vm_or_commit_id, count, keep_paused=keep_paused))


@router.post("/vm/{vm_id}/commit", status_code=201)
async def commit(
    engine: EngineDep, vm_id: str, body: Annotated[CommitIn | None, Body()] = None, keep_paused: bool = False
) -> CommitIdOut:
    body = body or CommitIn()
    record = await engine.commit_vm(
        vm_id,
        name=(body.name or "").strip() or None,
        description=(body.description or "").strip() or None,
        keep_paused=keep_paused,
        commit_id=body.commit_id,
    )
    return CommitIdOut(commit_id=record.id)


@router.get("/vm/{vm_id}/ssh_key")
async def ssh_key(engine: EngineDep, vm_id: str) -> SshKeyOut:
    return SshKeyOut(ssh_private_key=engine.ssh_private_key(vm_id), ssh_port=engine.ssh_port or 0)


@router.post("/vm/{vm_id}/exec", response_model_exclude_none=True)
async def exec_command(engine: EngineDep, vm_id: str, body: ExecIn) -> ExecOut:
    code, out, err = await engine.exec(
        vm_id,
        body.command,
        env=body.env,
        cwd=body.working_dir,
        stdin=body.stdin.encode() if body.stdin is not None else None,
        timeout=float(body.timeout_secs) if body.timeout_secs else None,
    )
    return ExecOut(
        exit_code=code,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        exec_id=body.exec_id or None,
    )


@router.post(
    "/vm/{vm_id}/exec/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "chunk events, then exit"}},
)
async def exec_stream(engine: EngineDep, vm_id: str, body: ExecIn) -> StreamingResponse:
    """The command runs on if the stream breaks: re-attach with its `exec_id` (one is made up when the
    request names none; every event carries it)."""
    events = engine.exec_stream(
        vm_id,
        body.command,
        env=body.env,
        cwd=body.working_dir,
        stdin=body.stdin.encode() if body.stdin is not None else None,
        timeout=float(body.timeout_secs) if body.timeout_secs else None,
    )
    exec_id = await engine.exec_journal.start(vm_id, body.exec_id or str(uuid.uuid4()), events)
    return _ndjson(engine.exec_journal.follow(vm_id, exec_id))


@router.post(
    "/vm/{vm_id}/exec/stream/attach",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "events after the cursor"}},
)
async def exec_stream_attach(engine: EngineDep, vm_id: str, body: ExecAttachIn) -> StreamingResponse:
    """The session's retained events after `cursor` (all when absent; only new ones with
    `from_latest`), then live ones until it ends."""
    engine.get_vm(vm_id)
    events = engine.exec_journal.follow(vm_id, body.exec_id, cursor=body.cursor, from_latest=body.from_latest)
    first = await anext(events, None)  # an unknown session is a 404, not an empty stream
    return _ndjson(events, first)


@router.get("/vm/{vm_id}/logs")
def exec_logs(
    engine: EngineDep,
    vm_id: str,
    offset: Offset = 0,
    max_entries: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    stream: Literal["stdout", "stderr"] | None = None,
) -> ExecLogOut:
    """The VM's exec output (streamed sessions), from byte `offset` of its log."""
    engine.get_vm(vm_id)
    entries, next_offset, eof = engine.exec_journal.logs(
        vm_id, offset=offset, max_entries=max_entries, stream=stream
    )
    return ExecLogOut(
        entries=[ExecLogEntryOut(**entry) for entry in entries], next_offset=next_offset, eof=eof
    )


@router.get("/vm/{vm_id}/files")
async def read_file(engine: EngineDep, vm_id: str, path: str) -> FileContentOut:
    content = await engine.read_file(vm_id, path)
    return FileContentOut(content_b64=base64.b64encode(content).decode())


@router.put("/vm/{vm_id}/files", response_class=Response, responses={200: {"description": "written"}})
async def write_file(engine: EngineDep, vm_id: str, body: FileIn) -> Response:
    await engine.write_file(
        vm_id, body.path, base64.b64decode(body.content_b64), mode=body.mode, create_dirs=body.create_dirs
    )
    return Response(status_code=200)


@router.get("/commits", response_model=CommitsPage, responses=NOT_MODIFIED)
async def list_commits(
    engine: EngineDep, request: Request, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """Answers an `ETag`; 304 to a matching `If-None-Match`."""
    commits, total = engine.list_commits(limit=limit, offset=offset)
    page = CommitsPage(
        commits=[CommitOut.of(engine, c) for c in commits], total=total, limit=limit, offset=offset
    )
    return etagged(request, page.model_dump_json().encode())


@router.patch("/commits/{commit_id}")
def update_commit(engine: EngineDep, commit_id: str, body: CommitPatchIn) -> CommitOut:
    """A plain `def`: FastAPI runs it in its threadpool, so the SQLite write (fsync) stays off the loop."""
    record = engine.update_commit(
        commit_id, is_public=body.is_public, name=body.name, description=body.description
    )
    return CommitOut.of(engine, record)


@router.delete("/commits/{commit_id}", status_code=204, response_class=Response)
async def delete_commit(engine: EngineDep, commit_id: str) -> Response:
    await engine.delete_commit(commit_id)
    return Response(status_code=204)


@router.get("/env_vars")
def env_vars(engine: EngineDep) -> EnvVarsOut:
    return EnvVarsOut(vars=engine.env_vars())


@router.put("/env_vars")
def set_env_vars(engine: EngineDep, body: EnvVarsIn) -> EnvVarsOut:
    return EnvVarsOut(vars=engine.set_env_vars(body.vars, replace=body.replace))


@router.delete("/env_vars/{key}", status_code=204, response_class=Response)
def delete_env_var(engine: EngineDep, key: str) -> Response:
    engine.delete_env_var(key)
    return Response(status_code=204)


@router.get("/system/version")
async def version() -> VersionOut:
    return VersionOut(
        executable_name="vmtui-serve", workspace_version=__version__, git_hash="", capabilities=Capabilities()
    )


def _ndjson(events: AsyncIterator[dict[str, Any]], first: dict[str, Any] | None = None) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        if first is not None:
            yield json.dumps(first).encode() + b"\n"
        async for event in events:
            yield json.dumps(event).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
