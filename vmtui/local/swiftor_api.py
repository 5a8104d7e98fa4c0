"""The Swiftor API of the local engine (mounted at `/swiftor`), on the engine's own sandboxes.

Contract: research/swiftor-api.md, local choices documented here:

* Auth: `Authorization: Bearer <HS256 JWT>` signed with the engine's secret (`jwt_tokens`); the user
  is the `email` claim, registered on first sight with plan `core` (a `plan` claim sets another
  plan). Missing header → 403 "Not authenticated" (FastAPI's classic answer), bad token → 401.
* Errors are always `{"detail": ...}`: a sentence, or for 422 FastAPI's validation list without the
  rejected inputs (a password must never echo). Unknown and foreign VMs are both 404. There is no 409
  on Swiftor: refused state changes and duplicates are 400.
* Each VM is an engine VM owned by `swiftor:<email>`, created stopped. Distribution codes map to an
  uploaded engine image named `<distribution>-<desktop>` or `<distribution>` when one exists, else
  to the engine's default image. Plan limits (`core.swiftor_plans`) are checked per VM at start.
  Start of a running VM and stop of a stopped one are 200 no-ops.
* Secrets are the VM's environment (every process) from its next start; `VM_PASSWORD` is set from
  the create password. Values are returned only to the VM's owner and never logged.
* `/config` is the VM's storage: with `storageType: "persistent"` it survives stop/start, otherwise it
  is emptied at every start.
* Networking: mapping `name → port` serves `http://{name}-{vmid}.localhost:<engine port>` through
  `swiftor_host_proxy`; `http://{vmid}.localhost:<engine port>` is the VM's desktop (port 3000 inside,
  where webtop listens).
* Shell access: `POST /vms/exec` (`{"vmid", "command": [argv] | "sh string", "timeout_secs"?}` →
  `{"exit_code", "stdout", "stderr"}`, from the legacy Swiftor backend) and the local extension
  `GET /vms/ssh_key/{vmid}` (`{"ssh_private_key", "ssh_port"}`) for the engine's SSH-over-TLS gateway.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import h11
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException

from vmtui.core.errors import BadRequest, Conflict, NotFound, ProviderError, QuotaExceeded, Unavailable
from vmtui.core.swiftor_plans import distribution_problem, normalise_plan, plan_for
from vmtui.local.engine import DEFAULT_IMAGE, Engine
from vmtui.local.jwt_tokens import InvalidToken, verify_token
from vmtui.local.sandbox import SandboxError
from vmtui.local.swiftor_store import FILE_NAME, Mapping, SwiftorStore, SwiftorVm

log = logging.getLogger("vmtui.local.swiftor")

DESKTOP_PORT = 3000
"""Where a Swiftor (linuxserver webtop) desktop listens inside its VM."""
CONFIG_DIR = "/config"
EXEC_TIMEOUT = 300
LIVE_STATES = ("booting", "running", "paused")
MAX_PROXY_BODY = 64 * 1024 * 1024
PROXY_TIMEOUT = 60.0
_NOT_RELAYED = frozenset(  # hop-by-hop headers, and the framing/host headers the relay sets itself
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)
_VMID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_STATUS_OF: dict[type[ProviderError], int] = {
    NotFound: 404,
    BadRequest: 400,
    Conflict: 400,
    QuotaExceeded: 400,
    Unavailable: 503,
}


def owner_of(email: str) -> str:
    """The engine owner of a Swiftor user's VMs (keeps them out of the Vers API)."""
    return f"swiftor:{email}"


class SwiftorFailure(Exception):
    """An answer `{"detail": detail}` with this status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _detail(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _validation_list(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 list without `input`/`ctx`/`url`: the rejected values may be secrets."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors
    ]


class _SwiftorRoute(APIRoute):
    """Renders every failure of a Swiftor route the Swiftor way, whatever handlers the app that
    mounts the router installs for its own API."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SwiftorFailure as exc:
                return _detail(exc.status, exc.detail)
            except RequestValidationError as exc:
                return _detail(422, _validation_list(exc.errors()))
            except HTTPException as exc:
                return _detail(exc.status_code, exc.detail, dict(exc.headers or {}))
            except ProviderError as exc:
                status = next((code for cls, code in _STATUS_OF.items() if isinstance(exc, cls)), 500)
                return _detail(status, exc.message)
            except Exception:
                log.exception("internal error on %s %s", request.method, request.url.path)
                return _detail(500, "internal error")

        return handle


# -- request bodies ---------------------------------------------------------------------------


class _Code(BaseModel):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class _CreateConfig(BaseModel):
    vmlabel: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    region: _Code
    password: SecretStr = Field(min_length=1, max_length=256)
    storageType: str | None = Field(default=None, max_length=32)


class _CreateOs(BaseModel):
    distribution: _Code
    desktop: str | None = Field(default=None, max_length=32)
    cpu: int = Field(ge=1, le=64)
    ram: int = Field(ge=1, le=256, description="GB")


class CreateBody(BaseModel):
    config: _CreateConfig
    os: _CreateOs


class SecretBody(BaseModel):
    vmid: str = Field(min_length=1, max_length=64)
    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    value: SecretStr = Field(max_length=65536)


class ExecBody(BaseModel):
    vmid: str = Field(min_length=1, max_length=64)
    command: list[str] | str = Field(min_length=1, description="argv, or a string run by /bin/sh -c")
    timeout_secs: int | None = Field(default=None, ge=1, le=3600)


class MappingBody(BaseModel):
    vmid: str = Field(min_length=1, max_length=64)
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    port: int = Field(ge=1, le=65535)


# -- shared state -----------------------------------------------------------------------------


class _Context:
    """What the router and the host proxy share: the engine and the Swiftor store (opened on
    first use: the app may be built before the engine created its state dir)."""

    def __init__(self, engine: Engine, domain: str = "localhost"):
        self.engine = engine
        self.domain = domain
        self._store: SwiftorStore | None = None

    @property
    def store(self) -> SwiftorStore:
        if self._store is None:
            self._store = SwiftorStore(Path(self.engine.state_dir) / FILE_NAME)
        return self._store

    def owned_vm(self, vmid: str, email: str) -> SwiftorVm:
        vm = self.store.get_vm(vmid, email)
        if vm is None:
            raise SwiftorFailure(404, "VM not found")
        return vm

    def engine_state(self, vm: SwiftorVm) -> str:
        return self.engine.vm_state(self.engine.get_vm(vm.id, owner_of(vm.email)))

    def image_for(self, distribution: str, desktop: str | None) -> str:
        names = {image.name for image in self.engine.list_images()}
        candidates = [f"{distribution}-{desktop}", distribution] if desktop else [distribution]
        return next((name for name in candidates if name in names), DEFAULT_IMAGE)

    def url(self, request: Request, host: str) -> str:
        port = request.url.port
        return f"{request.url.scheme}://{host}.{self.domain}" + (f":{port}" if port else "")


def _vm_out(vm: SwiftorVm, state: str) -> dict[str, Any]:
    return {
        "id": vm.id,
        "vmlabel": vm.label,
        "region": vm.region,
        "os": {"distribution": vm.distribution, "desktop": vm.desktop},
        "specs": {"cpu": vm.cpu, "ram": vm.ram_gb, "storage": vm.persistent},
        "enabled": state in LIVE_STATES,
    }


_BEARER = HTTPBearer(auto_error=False)


# -- the router -------------------------------------------------------------------------------


def swiftor_router(engine: Engine, secret: str, *, missing_auth_status: int = 403) -> APIRouter:
    """The Swiftor VM API over `engine`; tokens are verified with `secret`."""
    ctx = _Context(engine)
    router = APIRouter(route_class=_SwiftorRoute)

    async def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> str:
        if credentials is None:
            raise SwiftorFailure(missing_auth_status, "Not authenticated")
        try:
            user = verify_token(secret, credentials.credentials)
        except InvalidToken as exc:
            raise SwiftorFailure(401, str(exc)) from None
        ctx.store.ensure_user(user.email, normalise_plan(user.plan) if user.plan else None)
        return user.email

    @router.get("/init")
    async def account(email: str = Depends(current_user)) -> dict[str, Any]:
        """The legacy `GET /init` profile: who the token is for and their plan."""
        return {"username": email.split("@", 1)[0], "plan": ctx.store.user_plan(email), "roles": ["user"]}

    @router.get("/vms")
    async def list_vms(email: str = Depends(current_user)) -> dict[str, Any]:
        records = {vm.id: vm for vm in engine.list_vms(owner=owner_of(email))}
        listed = []
        for vm in ctx.store.list_vms(email):
            record = records.get(vm.id)
            if record is not None:
                listed.append(_vm_out(vm, engine.vm_state(record)))
        return {"vms": listed}

    @router.post("/vms/create")
    async def create_vm(body: CreateBody, email: str = Depends(current_user)) -> dict[str, Any]:
        if "\x00" in body.config.password.get_secret_value():
            raise SwiftorFailure(400, "the password cannot contain NUL characters")
        distribution = body.os.distribution.code.lower()
        desktop = (body.os.desktop or "").lower() or None
        problem = distribution_problem(distribution, desktop)
        if problem:
            raise SwiftorFailure(400, problem)
        record = await engine.create_vm(
            image=ctx.image_for(distribution, desktop),
            vcpu_count=body.os.cpu,
            mem_size_mib=body.os.ram * 1024,
            labels={"name": body.config.vmlabel},
            start=False,
            owner=owner_of(email),
        )
        vm = SwiftorVm(
            id=record.id,
            email=email,
            label=body.config.vmlabel,
            region=body.config.region.code.upper(),
            distribution=distribution,
            desktop=desktop,
            cpu=body.os.cpu,
            ram_gb=body.os.ram,
            persistent=(body.config.storageType or "").lower() == "persistent",
        )
        try:
            ctx.store.insert_vm(vm, body.config.password.get_secret_value())
        except BaseException:
            await engine.delete_vm(record.id, owner=owner_of(email))
            raise
        log.info("swiftor: created vm %s for %s", vm.id, email)
        return {"message": "VM created", "vm": _vm_out(vm, "stopped")}

    @router.get("/vms/start/{vmid}")
    async def start_vm(vmid: str, email: str = Depends(current_user)) -> dict[str, Any]:
        vm = ctx.owned_vm(vmid, email)
        problem = plan_for(ctx.store.user_plan(email)).violation(vm.cpu, vm.ram_gb)
        if problem:
            raise SwiftorFailure(400, problem)
        owner = owner_of(email)
        state = ctx.engine_state(vm)
        if state not in LIVE_STATES:
            if state == "dead":
                await engine.stop_vm(vmid, owner=owner)
            await engine.start_vm(vmid, env=ctx.store.secrets(vmid), owner=owner)
            try:
                await _prepare_storage(engine, vm)
            except BaseException:
                await engine.stop_vm(vmid, owner=owner)  # never run on a /config it must not see
                raise
            log.info("swiftor: started vm %s", vmid)
        return {"message": "VM started", "vm": _vm_out(vm, ctx.engine_state(vm))}

    @router.get("/vms/stop/{vmid}")
    async def stop_vm(vmid: str, email: str = Depends(current_user)) -> dict[str, Any]:
        vm = ctx.owned_vm(vmid, email)
        await engine.stop_vm(vmid, owner=owner_of(email))
        return {"message": "VM stopped", "vm": _vm_out(vm, ctx.engine_state(vm))}

    @router.get("/vms/delete/{vmid}")
    async def delete_vm(vmid: str, email: str = Depends(current_user)) -> dict[str, Any]:
        ctx.owned_vm(vmid, email)
        try:
            await engine.delete_vm(vmid, owner=owner_of(email))
        except NotFound:
            log.warning("swiftor: vm %s was already gone from the engine", vmid)
        ctx.store.delete_vm(vmid)
        log.info("swiftor: deleted vm %s", vmid)
        return {"message": "VM deleted", "id": vmid}

    @router.post("/vms/exec")
    async def exec_command(body: ExecBody, email: str = Depends(current_user)) -> dict[str, Any]:
        """Legacy Swiftor route ("Execute a command on a VM"); the VM must be running."""
        ctx.owned_vm(body.vmid, email)
        argv = ["/bin/sh", "-c", body.command] if isinstance(body.command, str) else body.command
        code, out, err = await engine.exec(
            body.vmid, argv, owner=owner_of(email), timeout=body.timeout_secs or EXEC_TIMEOUT
        )
        return {
            "exit_code": code,
            "stdout": out.decode("utf-8", errors="replace"),
            "stderr": err.decode("utf-8", errors="replace"),
        }

    @router.get("/vms/ssh_key/{vmid}")
    async def ssh_key(vmid: str, email: str = Depends(current_user)) -> dict[str, Any]:
        """Local extension: the VM's SSH key for the engine's SSH-over-TLS gateway."""
        ctx.owned_vm(vmid, email)
        return {"ssh_private_key": engine.ssh_private_key(vmid, owner_of(email)), "ssh_port": engine.ssh_port}

    @router.get("/vms/secrets")
    async def list_secrets(vmid: str | None = None, email: str = Depends(current_user)) -> dict[str, Any]:
        vms = [ctx.owned_vm(vmid, email)] if vmid else ctx.store.list_vms(email)
        return {"secrets": {vm.id: ctx.store.secrets(vm.id) for vm in vms}}

    @router.post("/vms/secrets")
    async def set_secret(body: SecretBody, email: str = Depends(current_user)) -> dict[str, Any]:
        ctx.owned_vm(body.vmid, email)
        value = body.value.get_secret_value()
        if "\x00" in value:
            raise SwiftorFailure(400, "a secret value cannot contain NUL characters")
        ctx.store.set_secret(body.vmid, body.key, value)
        return {
            "message": "Secret saved; it applies from the VM's next start",
            "vmid": body.vmid,
            "key": body.key,
        }

    @router.delete("/vms/secrets/{vmid}/{key}")
    async def delete_secret(vmid: str, key: str, email: str = Depends(current_user)) -> dict[str, Any]:
        ctx.owned_vm(vmid, email)
        if not ctx.store.delete_secret(vmid, key):
            raise SwiftorFailure(404, f"Secret not found: {key}")
        return {"message": "Secret deleted", "vmid": vmid, "key": key}

    def mapping_out(request: Request, mapping: Mapping) -> dict[str, Any]:
        return {
            "name": mapping.name,
            "port": mapping.port,
            "url": ctx.url(request, f"{mapping.name}-{mapping.vmid}"),
        }

    @router.get("/vms/networking")
    async def list_mappings(
        request: Request, vmid: str | None = None, email: str = Depends(current_user)
    ) -> dict[str, Any]:
        vms = [ctx.owned_vm(vmid, email)] if vmid else ctx.store.list_vms(email)
        return {
            "networking": {vm.id: [mapping_out(request, m) for m in ctx.store.mappings(vm.id)] for vm in vms}
        }

    @router.post("/vms/networking")
    async def add_mapping(
        request: Request, body: MappingBody, email: str = Depends(current_user)
    ) -> dict[str, Any]:
        ctx.owned_vm(body.vmid, email)
        if not ctx.store.add_mapping(body.vmid, body.name, body.port):
            raise SwiftorFailure(400, f"Mapping {body.name!r} already exists on this VM")
        mapping = Mapping(body.vmid, body.name, body.port)
        return {"message": "Mapping added", "mapping": {"vmid": body.vmid, **mapping_out(request, mapping)}}

    @router.delete("/vms/networking/{vmid}/{name}")
    async def delete_mapping(vmid: str, name: str, email: str = Depends(current_user)) -> dict[str, Any]:
        ctx.owned_vm(vmid, email)
        if not ctx.store.delete_mapping(vmid, name):
            raise SwiftorFailure(404, f"Mapping not found: {name}")
        return {"message": "Mapping deleted", "vmid": vmid, "name": name}

    return router


async def _prepare_storage(engine: Engine, vm: SwiftorVm) -> None:
    """Give the freshly started VM its `/config`: kept when persistent, empty otherwise."""
    script = f"mkdir -p {CONFIG_DIR}" if vm.persistent else f"rm -rf {CONFIG_DIR} && mkdir -p {CONFIG_DIR}"
    code, _out, err = await engine.exec(
        vm.id, ["/bin/sh", "-c", script], owner=owner_of(vm.email), timeout=30
    )
    if code != 0:
        raise SwiftorFailure(500, f"could not prepare {CONFIG_DIR}: {err.decode(errors='replace')[:200]}")


# -- host-routed reverse proxy ----------------------------------------------------------------


class _HostProxy:
    """Serves `{name}-{vmid}.<domain>` (a networking mapping) and `{vmid}.<domain>` (the desktop)
    by relaying the HTTP request to that port inside the VM, over a connection the sandbox opens
    in the VM's own network namespace."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        self._host = re.compile(
            rf"^(?:(?P<name>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-)?(?P<vmid>{_VMID})\.{re.escape(ctx.domain)}$"
        )

    def target(self, host_header: str | None) -> tuple[str | None, str] | None:
        host = (host_header or "").lower().rsplit(":", 1)[0] if host_header else ""
        match = self._host.match(host)
        return (match["name"], match["vmid"]) if match else None

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        target = self.target(request.headers.get("host"))
        if target is None:
            return await call_next(request)
        name, vmid = target
        try:
            return await self._forward(request, name, vmid)
        except SwiftorFailure as exc:
            return _detail(exc.status, exc.detail)

    async def _forward(self, request: Request, name: str | None, vmid: str) -> Response:
        vm = self.ctx.store.find_vm(vmid)
        if vm is None:
            raise SwiftorFailure(404, "VM not found")
        if name is None:
            port = DESKTOP_PORT
        else:
            mapping = self.ctx.store.mapping(vmid, name)
            if mapping is None:
                raise SwiftorFailure(404, f"No mapping {name!r} on this VM")
            port = mapping.port
        if int(request.headers.get("content-length") or 0) > MAX_PROXY_BODY:
            raise SwiftorFailure(413, "request body too large")
        body = await request.body()
        try:
            sandbox = await self.ctx.engine.sandbox_for(vmid)
        except ProviderError:
            raise SwiftorFailure(502, "VM is not running") from None
        try:
            reader, writer = await asyncio.wait_for(sandbox.open_tcp(port), PROXY_TIMEOUT)
        except (TimeoutError, OSError, SandboxError):
            raise SwiftorFailure(502, f"nothing answers on port {port} in the VM") from None
        relay = _Relay(reader, writer)
        try:
            status, headers = await asyncio.wait_for(relay.start(request, body), PROXY_TIMEOUT)
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError):
            relay.close()
            raise SwiftorFailure(
                502, f"the service on port {port} in the VM gave no valid HTTP answer"
            ) from None
        response = StreamingResponse(relay.body(), status_code=status)
        response.raw_headers = headers
        return response


class _Relay:
    """One HTTP/1.1 exchange with a server inside a VM (h11 does the framing)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._conn = h11.Connection(h11.CLIENT)

    async def start(self, request: Request, body: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        """Send the request; return the response status and headers (repeated ones kept)."""
        headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in _NOT_RELAYED]
        client = request.client.host if request.client else "127.0.0.1"
        headers += [
            (b"host", request.headers.get("host", "").encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-forwarded-for", client.encode()),
            (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
            (b"x-forwarded-proto", request.url.scheme.encode()),
        ]
        target = request.scope.get("raw_path") or request.url.path.encode()
        if request.scope.get("query_string"):
            target += b"?" + request.scope["query_string"]
        data = self._conn.send(h11.Request(method=request.method, target=target, headers=headers))
        data += self._conn.send(h11.Data(data=body)) if body else b""
        data += self._conn.send(h11.EndOfMessage())
        self._writer.write(data)
        await self._writer.drain()
        event = await self._next_event()
        while not isinstance(event, h11.Response):
            if not isinstance(event, h11.InformationalResponse):
                raise h11.RemoteProtocolError("no response")
            event = await self._next_event()
        kept = [
            (key, value)
            for key, value in event.headers
            if key.decode("latin-1") not in _NOT_RELAYED or key == b"content-length"
        ]
        return event.status_code, kept

    async def body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                event = await asyncio.wait_for(self._next_event(), PROXY_TIMEOUT)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return
        finally:
            self.close()

    async def _next_event(self) -> Any:
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._conn.receive_data(await self._reader.read(65536))

    def close(self) -> None:
        self._writer.close()


def swiftor_host_proxy(
    engine: Engine, domain: str = "localhost"
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An `app.middleware("http")` function: requests for `{name}-{vmid}.<domain>` or
    `{vmid}.<domain>` go to the VM, every other request to the app."""
    return _HostProxy(_Context(engine, domain))
