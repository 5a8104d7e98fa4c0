"""The Vers-compatible HTTP API of the local engine (FastAPI).

`create_app(engine, token)` builds the app; it does not start or stop the engine (the daemon
does, and tests drive it explicitly). Wire shapes follow `docs/research/vers-api.md`: JSON
`{"success": false, "error": "..."}` for application errors, plain-text 400/422 for bodies
that are not JSON or not the expected shape, 201 for creates.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from vmtui import __version__
from vmtui.core.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ProviderError,
    QuotaExceeded,
    Unavailable,
    Unsupported,
)
from vmtui.local import swiftor_api
from vmtui.local.engine import BRANCH_MAX, DEFAULT_IMAGE, BranchFailed, Engine
from vmtui.local.idempotency import IdempotencyMiddleware
from vmtui.local.ratelimit import RateLimiter
from vmtui.local.store import CommitRecord, ImageRecord, VmRecord

log = logging.getLogger("vmtui.local.server")

API_PREFIX = "/api/v1"
PUBLIC_PATHS = {"/health"}
KERNELS = {"default.bin"}
MAX_OFFSET = 2**63 - 1
"""Largest offset SQLite can take; larger ones are refused as bad requests instead of failing inside."""
CAPABILITIES = {
    "can_create": True,
    "can_delete": True,
    "can_branch": True,
    "can_commit": True,
    "can_restore": True,
    "can_pause": True,
    "can_start_stop": False,
    "has_ssh": True,
    "has_exec": True,
    "has_images": True,
    "has_secrets": False,
    "has_networking": False,
    "memory_snapshots": False,
}
"""What this engine can do; `memory_snapshots` is false because commits capture the filesystem only."""

_STATUS_OF: dict[type[ProviderError], int] = {
    BadRequest: 400,
    QuotaExceeded: 403,
    NotFound: 404,
    Conflict: 409,
    Unsupported: 501,
    Unavailable: 503,
}


# -- request bodies -----------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class VmConfigIn(_Body):
    vcpu_count: int | None = Field(default=None, ge=1, le=64)
    mem_size_mib: int | None = Field(default=None, ge=16, le=1_048_576)
    fs_size_mib: int | None = Field(default=None, ge=16, le=16_777_216)
    kernel_name: str | None = None
    image_name: str | None = None
    labels: dict[str, str] | None = None


class NewRootIn(_Body):
    vm_config: VmConfigIn


class StateIn(_Body):
    state: Literal["Paused", "Running"]


class LabelsIn(_Body):
    labels: dict[str, str] | None


class CommitIn(_Body):
    commit_id: str | None = None
    name: str | None = None
    description: str | None = None

    @field_validator("commit_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value:
            return str(uuid.UUID(value))
        return None


class FromCommitIn(_Body):
    commit_id: str | None = None
    tag_name: str | None = None
    ref: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FromCommitIn:
        given = [name for name in ("commit_id", "tag_name", "ref") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("expected exactly one of commit_id, tag_name, ref")
        return self


class FileIn(_Body):
    path: str
    content_b64: str
    mode: int = 0o644
    create_dirs: bool = False

    @field_validator("content_b64")
    @classmethod
    def _base64(cls, value: str) -> str:
        base64.b64decode(value, validate=True)
        return value


class EnvVarsIn(_Body):
    vars: dict[str, str]
    replace: bool = False


class CommitPatchIn(_Body):
    is_public: bool
    name: str | None = None
    description: str | None = None


class ExecIn(_Body):
    command: list[str] = Field(min_length=1)
    env: dict[str, str] | None = None
    working_dir: str | None = None
    stdin: str | None = None
    timeout_secs: int | None = Field(default=None, ge=0)
    exec_id: str | None = None


# -- response shapes ----------------------------------------------------------------------------


def _vm_out(engine: Engine, vm: VmRecord) -> dict[str, Any]:
    return {
        "vm_id": vm.id,
        "owner_id": engine.owner_id,
        "created_at": vm.created_at,
        "state": engine.vm_state(vm),
        "labels": vm.labels,
    }


def _metadata_out(engine: Engine, vm: VmRecord) -> dict[str, Any]:
    return {
        "vm_id": vm.id,
        "owner_id": engine.owner_id,
        "created_at": vm.created_at,
        "deleted_at": vm.deleted_at,
        "state": engine.vm_state(vm),
        "ip": None,
        "parent_commit_id": vm.parent_commit_id,
        "grandparent_vm_id": vm.grandparent_vm_id,
        "image_name": vm.image,
        "vcpu_count": vm.vcpu_count,
        "mem_size_mib": vm.mem_size_mib,
        "fs_size_mib": vm.fs_size_mib,
        "labels": vm.labels,
        "enforced_limits": engine.enforced_limits(vm.id),
    }


def _commit_out(engine: Engine, commit: CommitRecord, id_field: str = "commit_id") -> dict[str, Any]:
    return {
        id_field: commit.id,
        "name": commit.name,
        "owner_id": engine.owner_id,
        "created_at": commit.created_at,
        "is_public": commit.is_public,
        "description": commit.description,
        "parent_vm_id": commit.parent_vm_id,
        "grandparent_commit_id": commit.grandparent_commit_id,
    }


def _image_out(engine: Engine, image: ImageRecord) -> dict[str, Any]:
    vms, commits = engine.image_usage(image.name)
    return {
        "name": image.name,
        "size_bytes": image.size_bytes,
        "in_use": vms + commits,
        "created_at": image.created_at or None,
    }


def _base_image_out(engine: Engine, image: ImageRecord) -> dict[str, Any]:
    return {
        "base_image_id": image.name,
        "image_name": image.name,
        "owner_id": engine.owner_id,
        "is_public": image.name == DEFAULT_IMAGE,
        "size_mib": image.size_bytes // 2**20,
        "source_type": "builtin" if image.name == DEFAULT_IMAGE else "upload",
        "created_at": image.created_at or None,
        "description": None,
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status, headers=headers)


# -- access control -----------------------------------------------------------------------------

_Scope = MutableMapping[str, Any]
_Asgi = Callable[[_Scope, Any, Any], Awaitable[None]]


class _AccessGate:
    """Rate limit every request per client address, then demand the bearer token on every path
    but the public ones. Pure ASGI, so upload bodies stream through untouched."""

    def __init__(self, app: _Asgi, token: str, limiter: RateLimiter, open_prefixes: tuple[str, ...]):
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self._limiter = limiter
        self._open_prefixes = open_prefixes

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("local", 0))[0]
        wait = self._limiter.acquire(client)
        if wait is not None:
            retry = str(max(1, math.ceil(wait)))
            await _error(429, "rate limit exceeded", {"Retry-After": retry})(scope, receive, send)
            return
        path = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(self._open_prefixes) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        await _error(401, "Missing or invalid Authorization header")(scope, receive, send)

    def _authorized(self, scope: _Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False


class _InternalErrors:
    """Turn an unexpected exception into 500 `{"success": false, "error": "internal error"}` and
    one log line: the frames, then the message with the engine's secrets blanked out (exception
    messages may quote anything). Nothing propagates, so no server logs the raw message."""

    def __init__(self, app: _Asgi, secrets: list[str]):
        self.app = app
        self._secrets = [secret for secret in secrets if secret]

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, answer 500
            message = f"{type(exc).__name__}: {exc}"
            for secret in self._secrets:
                message = message.replace(secret, "[redacted]")
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("internal error on %s %s\n%s%s", scope["method"], scope["path"], frames, message)
            if not started:
                await _error(500, "internal error")(scope, receive, send)


# -- the app ------------------------------------------------------------------------------------


def create_app(
    engine: Engine, token: str, *, rate: float = 50.0, burst: int = 100, swiftor_secret: str | None = None
) -> FastAPI:
    """The HTTP app over a started (or soon started) engine. `token` is the bearer token."""
    app = FastAPI(
        title="vmtui local engine (Vers-compatible)", version=__version__, docs_url=None, redoc_url=None
    )
    _install_error_handlers(app)
    app.include_router(_vers_router(engine), prefix=API_PREFIX)
    rootfs = _rootfs_router(engine)
    app.include_router(rootfs, prefix=API_PREFIX)
    app.include_router(rootfs, prefix="/api")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "capabilities": CAPABILITIES,
            "vms": len(engine.list_vms()) if engine.store is not None else 0,
        }

    open_prefixes: tuple[str, ...] = ()
    if swiftor_secret:
        app.include_router(swiftor_api.swiftor_router(engine, swiftor_secret), prefix="/swiftor")
        open_prefixes = ("/swiftor/",)
    app.add_middleware(_InternalErrors, secrets=[token, *([swiftor_secret] if swiftor_secret else [])])
    app.add_middleware(IdempotencyMiddleware, store=engine.db)
    app.add_middleware(
        _AccessGate, token=token, limiter=RateLimiter(rate, burst), open_prefixes=open_prefixes
    )
    if swiftor_secret:
        app.middleware("http")(swiftor_api.swiftor_host_proxy(engine))
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProviderError)
    async def engine_error(_request: Request, exc: ProviderError) -> JSONResponse:
        retry = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else None
        return _error(_status_of(exc), exc.message, retry)

    @app.exception_handler(BranchFailed)
    async def branch_failed(_request: Request, exc: BranchFailed) -> JSONResponse:
        if isinstance(exc.error, ProviderError):
            status, message = _status_of(exc.error), exc.error.message
        else:
            log.error("branch failed after %d VM(s)", len(exc.created), exc_info=exc.error)
            status, message = 500, "internal error"
        return JSONResponse(
            {"vms": [{"vm_id": vm.id} for vm in exc.created], "error": message}, status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> PlainTextResponse:
        return _validation_response(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))


def _status_of(exc: ProviderError) -> int:
    return exc.status or next((code for cls, code in _STATUS_OF.items() if isinstance(exc, cls)), 500)


def _validation_response(errors: Any) -> PlainTextResponse:
    """Plain-text 400/422 the way the Vers server's extractors answer."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    where = ".".join(str(part) for part in first.get("loc", ())[1:])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    source = first.get("loc", ("body",))[0]
    if first.get("type") == "json_invalid":
        return PlainTextResponse(f"Failed to parse the request body as JSON: {first['msg']}", status_code=400)
    if source == "body" and not where and isinstance(first.get("input"), (bytes, str)):
        return PlainTextResponse(
            "Failed to parse the request body as JSON: expected a JSON object", status_code=400
        )
    if source == "body" and first.get("type") == "missing" and not where:
        return PlainTextResponse(
            "Failed to parse the request body as JSON: EOF while parsing a value", status_code=400
        )
    if source in ("query", "path"):
        return PlainTextResponse(f"Failed to deserialize query string: {detail}", status_code=400)
    if first.get("type") == "value_error" and not where:
        return PlainTextResponse(f"Failed to parse the request body as JSON: {first['msg']}", status_code=400)
    return PlainTextResponse(
        f"Failed to deserialize the JSON body into the target type: {detail}", status_code=422
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


def _vers_router(engine: Engine) -> APIRouter:
    router = APIRouter()

    @router.get("/vms")
    @router.get("/vm")
    async def list_vms() -> list[dict[str, Any]]:
        return [_vm_out(engine, vm) for vm in engine.list_vms()]

    @router.post("/vm/new_root", status_code=201)
    async def new_root(body: NewRootIn, wait_boot: bool = False) -> dict[str, str]:
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
        return {"vm_id": vm.id}

    @router.post("/vm/from_commit", status_code=201)
    async def from_commit(body: FromCommitIn) -> dict[str, str]:
        if body.commit_id is None:
            raise NotFound("tag not found")
        vm = await engine.from_commit(body.commit_id)
        return {"vm_id": vm.id}

    @router.post("/vm/branch/by_vm/{vm_id}", status_code=201)
    async def branch_by_vm(
        vm_id: str, count: Annotated[int, Query(ge=0, le=BRANCH_MAX)] = 1, keep_paused: bool = False
    ) -> dict[str, Any]:
        vms = await engine.branch(vm_id, count, keep_paused=keep_paused, source_kind="vm")
        return {"vms": [{"vm_id": vm.id} for vm in vms]}

    @router.post("/vm/branch/by_commit/{commit_id}", status_code=201)
    async def branch_by_commit(
        commit_id: str, count: Annotated[int, Query(ge=0, le=BRANCH_MAX)] = 1
    ) -> dict[str, Any]:
        vms = await engine.branch(commit_id, count, source_kind="commit")
        return {"vms": [{"vm_id": vm.id} for vm in vms]}

    @router.get("/vm/commits/{commit_id}/parents")
    async def commit_parents(commit_id: str) -> list[dict[str, Any]]:
        return [_commit_out(engine, commit, "id") for commit in engine.commit_parents(commit_id)]

    @router.get("/vm/{vm_id}/status")
    async def vm_status(vm_id: str) -> dict[str, Any]:
        return _vm_out(engine, engine.get_vm(vm_id))

    @router.get("/vm/{vm_id}/metadata")
    async def vm_metadata(vm_id: str) -> dict[str, Any]:
        return _metadata_out(engine, engine.get_vm(vm_id))

    @router.delete("/vm/{vm_id}")
    async def delete_vm(vm_id: str) -> dict[str, str]:
        await engine.delete_vm(vm_id)
        return {"vm_id": vm_id}

    @router.patch("/vm/{vm_id}/state")
    async def set_state(vm_id: str, body: StateIn) -> Response:
        await engine.set_paused(vm_id, body.state == "Paused")
        return Response(status_code=200)

    @router.patch("/vm/{vm_id}/label")
    async def set_labels(vm_id: str, body: LabelsIn) -> Response:
        if body.labels is not None:
            await engine.set_labels(vm_id, body.labels)
        return Response(status_code=200)

    @router.post("/vm/{vm_or_commit_id}/branch", status_code=201)
    async def branch(
        vm_or_commit_id: str, count: Annotated[int, Query(ge=0, le=BRANCH_MAX)] = 1, keep_paused: bool = False
    ) -> dict[str, Any]:
        vms = await engine.branch(vm_or_commit_id, count, keep_paused=keep_paused)
        return {"vms": [{"vm_id": vm.id} for vm in vms]}

    @router.post("/vm/{vm_id}/commit", status_code=201)
    async def commit(
        vm_id: str, body: Annotated[CommitIn | None, Body()] = None, keep_paused: bool = False
    ) -> dict[str, str]:
        body = body or CommitIn()
        record = await engine.commit_vm(
            vm_id,
            name=(body.name or "").strip() or None,
            description=(body.description or "").strip() or None,
            keep_paused=keep_paused,
            commit_id=body.commit_id,
        )
        return {"commit_id": record.id}

    @router.get("/vm/{vm_id}/ssh_key")
    async def ssh_key(vm_id: str) -> dict[str, Any]:
        return {"ssh_private_key": engine.ssh_private_key(vm_id), "ssh_port": engine.ssh_port or 0}

    @router.post("/vm/{vm_id}/exec")
    async def exec_command(vm_id: str, body: ExecIn) -> dict[str, Any]:
        code, out, err = await engine.exec(
            vm_id,
            body.command,
            env=body.env,
            cwd=body.working_dir,
            stdin=body.stdin.encode() if body.stdin is not None else None,
            timeout=float(body.timeout_secs) if body.timeout_secs else None,
        )
        result: dict[str, Any] = {
            "exit_code": code,
            "stdout": out.decode("utf-8", "replace"),
            "stderr": err.decode("utf-8", "replace"),
        }
        if body.exec_id:
            result["exec_id"] = body.exec_id
        return result

    @router.post("/vm/{vm_id}/exec/stream")
    async def exec_stream(vm_id: str, body: ExecIn) -> StreamingResponse:
        events = engine.exec_stream(
            vm_id,
            body.command,
            env=body.env,
            cwd=body.working_dir,
            stdin=body.stdin.encode() if body.stdin is not None else None,
            timeout=float(body.timeout_secs) if body.timeout_secs else None,
        )
        first = await anext(events)  # errors before any output (VM paused, gone...) keep their status
        return StreamingResponse(
            _ndjson_events(first, events, body.exec_id), media_type="application/x-ndjson"
        )

    @router.get("/vm/{vm_id}/files")
    async def read_file(vm_id: str, path: str) -> dict[str, str]:
        content = await engine.read_file(vm_id, path)
        return {"content_b64": base64.b64encode(content).decode()}

    @router.put("/vm/{vm_id}/files")
    async def write_file(vm_id: str, body: FileIn) -> Response:
        await engine.write_file(
            vm_id, body.path, base64.b64decode(body.content_b64), mode=body.mode, create_dirs=body.create_dirs
        )
        return Response(status_code=200)

    @router.get("/commits")
    async def list_commits(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        commits, total = engine.list_commits(limit=limit, offset=offset)
        return {
            "commits": [_commit_out(engine, c) for c in commits],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @router.patch("/commits/{commit_id}")
    async def update_commit(commit_id: str, body: CommitPatchIn) -> dict[str, Any]:
        record = engine.update_commit(
            commit_id, is_public=body.is_public, name=body.name, description=body.description
        )
        return _commit_out(engine, record)

    @router.delete("/commits/{commit_id}", status_code=204)
    async def delete_commit(commit_id: str) -> Response:
        await engine.delete_commit(commit_id)
        return Response(status_code=204)

    @router.get("/env_vars")
    async def env_vars() -> dict[str, Any]:
        return {"vars": engine.env_vars()}

    @router.put("/env_vars")
    async def set_env_vars(body: EnvVarsIn) -> dict[str, Any]:
        return {"vars": engine.set_env_vars(body.vars, replace=body.replace)}

    @router.delete("/env_vars/{key}", status_code=204)
    async def delete_env_var(key: str) -> Response:
        engine.delete_env_var(key)
        return Response(status_code=204)

    @router.get("/images")
    async def list_images(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        every = engine.list_images()
        page = every[offset : offset + limit]
        return {
            "images": [_base_image_out(engine, image) for image in page],
            "total": len(every),
            "limit": limit,
            "offset": offset,
        }

    @router.get("/system/version")
    async def version() -> dict[str, Any]:
        return {
            "executable_name": "vmtui-serve",
            "workspace_version": __version__,
            "git_hash": "",
            "capabilities": CAPABILITIES,
        }

    return router


def _rootfs_router(engine: Engine) -> APIRouter:
    """Root filesystem images in the shape of the API introduction (`/api/rootfs`)."""
    router = APIRouter()

    @router.get("/rootfs")
    async def list_rootfs() -> dict[str, Any]:
        every = engine.list_images()
        return {
            "rootfs_names": [image.name for image in every],
            "images": [_image_out(engine, image) for image in every],
        }

    @router.put("/rootfs/{name}", status_code=201)
    async def upload_rootfs(name: str, request: Request) -> dict[str, Any]:
        image = await engine.import_image(name, request.stream())
        return {"rootfs_name": image.name, "size_bytes": image.size_bytes}

    @router.delete("/rootfs/{name}")
    async def delete_rootfs(name: str) -> dict[str, str]:
        await engine.delete_image(name)
        return {"rootfs_name": name}

    return router
