"""The Vers-compatible routes (mounted under `/api/v1`)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse

from vmtui import __version__
from vmtui.core.errors import NotFound, ProviderError
from vmtui.local.api.deps import EngineDep
from vmtui.local.api.schemas import (
    BaseImageOut,
    Capabilities,
    CommitIdOut,
    CommitIn,
    CommitOut,
    CommitParentOut,
    CommitPatchIn,
    CommitsPage,
    EnvVarsIn,
    EnvVarsOut,
    ExecIn,
    ExecOut,
    FileContentOut,
    FileIn,
    FromCommitIn,
    ImagesPage,
    LabelsIn,
    NewRootIn,
    SshKeyOut,
    StateIn,
    VersionOut,
    VmIdOut,
    VmMetadataOut,
    VmMetricsOut,
    VmOut,
    VmsOut,
)
from vmtui.local.engine import BRANCH_MAX, DEFAULT_IMAGE

KERNELS = {"default.bin"}
MAX_OFFSET = 2**63 - 1
"""Largest offset SQLite can take; larger ones are refused as bad requests instead of failing inside."""

Count = Annotated[int, Query(ge=0, le=BRANCH_MAX)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]

router = APIRouter()


@router.get("/vms")
@router.get("/vm")
async def list_vms(engine: EngineDep) -> list[VmOut]:
    return [VmOut.of(engine, vm) for vm in engine.list_vms()]


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
    if body.commit_id is None:
        raise NotFound("tag not found")
    vm = await engine.from_commit(body.commit_id)
    return VmIdOut(vm_id=vm.id)


@router.post("/vm/branch/by_vm/{vm_id}", status_code=201)
async def branch_by_vm(engine: EngineDep, vm_id: str, count: Count = 1, keep_paused: bool = False) -> VmsOut:
    return VmsOut.of(await engine.branch(vm_id, count, keep_paused=keep_paused, source_kind="vm"))


@router.post("/vm/branch/by_commit/{commit_id}", status_code=201)
async def branch_by_commit(engine: EngineDep, commit_id: str, count: Count = 1) -> VmsOut:
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


@router.delete("/vm/{vm_id}")
async def delete_vm(engine: EngineDep, vm_id: str) -> VmIdOut:
    await engine.delete_vm(vm_id)
    return VmIdOut(vm_id=vm_id)


@router.patch("/vm/{vm_id}/state", response_class=Response, responses={200: {"description": "done"}})
async def set_state(engine: EngineDep, vm_id: str, body: StateIn) -> Response:
    await engine.set_paused(vm_id, body.state == "Paused")
    return Response(status_code=200)


@router.patch("/vm/{vm_id}/label", response_class=Response, responses={200: {"description": "done"}})
async def set_labels(engine: EngineDep, vm_id: str, body: LabelsIn) -> Response:
    if body.labels is not None:
        await engine.set_labels(vm_id, body.labels)
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
    events = engine.exec_stream(
        vm_id,
        body.command,
        env=body.env,
        cwd=body.working_dir,
        stdin=body.stdin.encode() if body.stdin is not None else None,
        timeout=float(body.timeout_secs) if body.timeout_secs else None,
    )
    first = await anext(events)  # errors before any output (VM paused, gone...) keep their status
    return StreamingResponse(_ndjson_events(first, events, body.exec_id), media_type="application/x-ndjson")


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


@router.get("/commits")
async def list_commits(engine: EngineDep, limit: Limit = 50, offset: Offset = 0) -> CommitsPage:
    commits, total = engine.list_commits(limit=limit, offset=offset)
    return CommitsPage(
        commits=[CommitOut.of(engine, c) for c in commits], total=total, limit=limit, offset=offset
    )


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


@router.get("/images")
async def list_images(engine: EngineDep, limit: Limit = 50, offset: Offset = 0) -> ImagesPage:
    every = engine.list_images()
    page = every[offset : offset + limit]
    return ImagesPage(
        images=[BaseImageOut.of(engine, image) for image in page],
        total=len(every),
        limit=limit,
        offset=offset,
    )


@router.get("/system/version")
async def version() -> VersionOut:
    return VersionOut(
        executable_name="vmtui-serve", workspace_version=__version__, git_hash="", capabilities=Capabilities()
    )


async def _ndjson_events(
    first: tuple[str, bytes | int], rest: AsyncIterator[tuple[str, bytes | int]], exec_id: str | None
) -> AsyncIterator[bytes]:
    """Exec output as the Vers NDJSON stream: `chunk` events, then `exit` (or `error`)."""
    cursor = 0

    def event(kind: str, data: bytes | int) -> bytes:
        nonlocal cursor
        cursor += 1
        if isinstance(data, int):
            line: dict[str, Any] = {"type": "exit", "exec_id": exec_id, "cursor": cursor, "exit_code": data}
        else:
            line = {
                "type": "chunk",
                "exec_id": exec_id,
                "cursor": cursor,
                "stream": kind,
                "data_b64": base64.b64encode(data).decode(),
            }
        return json.dumps(line).encode() + b"\n"

    try:
        yield event(*first)
        async for kind, data in rest:
            yield event(kind, data)
    except ProviderError as exc:
        code = "timeout" if exc.status == 408 else "exec_failed"
        yield json.dumps({"type": "error", "code": code, "message": exc.message}).encode() + b"\n"
    finally:
        await rest.aclose()
