"""The Swiftor API of the local engine, a sub-application mounted at `/swiftor`, on the engine's own
sandboxes.

Contract: the Swiftor VM API document (docs/seeds/003), every body to the letter; local choices
documented here:

* Auth: `Authorization: Bearer <HS256 JWT>` signed with the engine's secret (`jwt_tokens`), checked
  from the headers before any body is read; the user is the `email` claim, registered on first
  sight with plan `core` (a `plan` claim sets another plan). Missing header → 403 "Not
  authenticated" (FastAPI's classic answer), bad token → 401.
* Errors are always `{"detail": ...}`: a sentence, or for 422 FastAPI's validation list without the
  rejected inputs (a password must never echo). Unknown and foreign VMs are both 404. There is no 409
  on Swiftor: refused state changes and duplicates are 400.
* Each VM is an engine VM owned by `swiftor:<email>`, created stopped, with a disk of its plan's
  storage (`core.swiftor_plans`). The seed's eleven distribution codes map to an uploaded engine
  image named `<distribution>-<desktop>` or `<distribution>` when one exists, else to the engine's
  default image; other codes are refused. Plan limits (CPU, RAM, and how many VMs run at once) are
  checked at start. Start of a running VM and stop of a stopped one are 200 no-ops. `user_id` (in
  create's answer) is a UUID derived from the user's email.
* Secrets are the VM's environment (every process) from its next start; `VM_PASSWORD` is set from
  the create password. Values are returned only to the VM's owner and never logged.
* `/config` is the VM's storage: with `storageType: "persistent"` it survives stop/start, otherwise it
  is emptied at every start.
* Networking: mapping `name → internal_port` serves `http://{name}-{vmid}.localhost:<engine port>`
  through `host_proxy.HostProxy` (add's `subdomain` is that host name); `http://{vmid}.localhost:
  <engine port>` is the VM's own URL (its distribution's default port, 3000 for desktops).
* Shell access: `POST /vms/exec` (`{"vmid", "command": [argv] | "sh string", "timeout_secs"?}` →
  `{"exit_code", "stdout", "stderr"}`, from the legacy Swiftor backend) and the local extension
  `GET /vms/ssh_key/{vmid}` (`{"ssh_private_key", "ssh_port"}`) for the engine's SSH-over-TLS gateway.
* SQLite writes (fsync) run in the threadpool (plain `def` routes and dependencies, or
  `run_in_threadpool`), never on the loop that also serves the SSH gateway; engine calls stay on
  the loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from vmtui import __version__
from vmtui.core.errors import BadRequest, Conflict, NotFound, ProviderError, QuotaExceeded, Unavailable
from vmtui.core.swiftor_plans import distribution_problem, normalise_plan, plan_for
from vmtui.local.api.guards import (
    AccessGate,
    Authenticator,
    BodyLimit,
    Caller,
    InternalErrors,
    Rejection,
    caller_of,
)
from vmtui.local.api.swiftor_schemas import (
    LIVE_STATES,
    AccountOut,
    CreateBody,
    CreatedVmOut,
    ExecBody,
    MappingAddedOut,
    MappingBody,
    MappingDeletedOut,
    MappingOut,
    MappingsOut,
    MessageOut,
    SecretBody,
    SecretChangedOut,
    SecretsOut,
    SwiftorExecOut,
    SwiftorSshKeyOut,
    SwiftorVmOut,
    VmCreatedOut,
    VmListOut,
)
from vmtui.local.engine import DEFAULT_IMAGE, Engine
from vmtui.local.idempotency import IdempotencyMiddleware
from vmtui.local.jwt_tokens import InvalidToken, verify_token
from vmtui.local.swiftor_store import FILE_NAME, Mapping, SwiftorStore, SwiftorVm

log = logging.getLogger("vmtui.local.swiftor")

CONFIG_DIR = "/config"
EXEC_TIMEOUT = 300
JSON_BODY_LIMIT = 1024 * 1024
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


def user_id_of(email: str) -> str:
    """The `user_id` of create's answer: stable per user, not the email itself."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"swiftor-user:{email}"))


class SwiftorFailure(Exception):
    """An answer `{"detail": detail}` with this status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def detail_response(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _validation_list(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 list without `input`/`ctx`/`url`: the rejected values may be secrets."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors
    ]


class _SwiftorRoute(APIRoute):
    """Renders every failure of a Swiftor route the Swiftor way."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SwiftorFailure as exc:
                return detail_response(exc.status, exc.detail)
            except RequestValidationError as exc:
                return detail_response(422, _validation_list(exc.errors()))
            except HTTPException as exc:
                return detail_response(exc.status_code, exc.detail, dict(exc.headers or {}))
            except ProviderError as exc:
                status = next((code for cls, code in _STATUS_OF.items() if isinstance(exc, cls)), 500)
                return detail_response(status, exc.message)
            except Exception:
                log.exception("internal error on %s %s", request.method, request.url.path)
                return detail_response(500, "internal error")

        return handle


class SwiftorContext:
    """What the routes and the host proxy share: the engine and the Swiftor store (opened on first
    use: the app may be built before the engine created its state dir)."""

    def __init__(self, engine: Engine, domain: str = "localhost"):
        self.engine = engine
        self.domain = domain
        self._store: SwiftorStore | None = None
        self._start_locks: dict[str, asyncio.Lock] = {}

    @property
    def store(self) -> SwiftorStore:
        if self._store is None:
            self._store = SwiftorStore(Path(self.engine.state_dir) / FILE_NAME)
        return self._store

    def start_lock(self, email: str) -> asyncio.Lock:
        return self._start_locks.setdefault(email, asyncio.Lock())

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


# -- the app ----------------------------------------------------------------------------------


def swiftor_app(context: SwiftorContext, secret: str) -> FastAPI:
    """The Swiftor VM API over `context.engine`. Its guards authenticate the JWT (verified with
    `secret`) from the headers before any body is read, bound every body to JSON_BODY_LIMIT, and key
    idempotency records by the user."""
    app = FastAPI(title="vmtui local engine (Swiftor)", version=__version__, docs_url=None, redoc_url=None)
    app.state.swiftor = context
    app.include_router(router)
    app.add_middleware(InternalErrors, secrets=[secret], error=detail_response)
    app.add_middleware(IdempotencyMiddleware, store=context.engine.db, error=detail_response)
    app.add_middleware(BodyLimit, limit_for=lambda _scope: JSON_BODY_LIMIT, error=detail_response)
    app.add_middleware(AccessGate, authenticate=jwt_authenticator(secret), error=detail_response)
    return app


def jwt_authenticator(secret: str) -> Authenticator:
    """`Authorization: Bearer <JWT>`: missing (or not a bearer) → 403 "Not authenticated", a token
    that does not verify → 401."""

    def authenticate(headers: dict[bytes, bytes]) -> Caller | Rejection:
        scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return Rejection(403, "Not authenticated")
        try:
            user = verify_token(secret, credentials)
        except InvalidToken as exc:
            return Rejection(401, str(exc))
        return Caller(identity=owner_of(user.email), email=user.email, plan=user.plan)

    return authenticate


# -- dependencies -----------------------------------------------------------------------------


async def _context(request: Request) -> SwiftorContext:  # async: no threadpool hop for a lookup
    context: SwiftorContext = request.app.state.swiftor
    return context


ContextDep = Annotated[SwiftorContext, Depends(_context)]


def current_user(request: Request, ctx: ContextDep) -> str:
    """The caller the gate authenticated, registered in the store (a plain `def`: the write runs in
    the threadpool)."""
    caller = caller_of(request.scope)
    if caller is None or caller.email is None:
        raise SwiftorFailure(403, "Not authenticated")
    ctx.store.ensure_user(caller.email, normalise_plan(caller.plan) if caller.plan else None)
    return caller.email


UserDep = Annotated[str, Depends(current_user)]

# -- the routes -------------------------------------------------------------------------------

router = APIRouter(route_class=_SwiftorRoute)


@router.get("/init")
def account(ctx: ContextDep, email: UserDep) -> AccountOut:
    """The legacy `GET /init` profile: who the token is for and their plan."""
    return AccountOut(username=email.split("@", 1)[0], plan=ctx.store.user_plan(email), roles=["user"])


@router.get("/vms")
async def list_vms(ctx: ContextDep, email: UserDep) -> VmListOut:
    records = {vm.id: vm for vm in ctx.engine.list_vms(owner=owner_of(email))}
    listed = []
    for vm in ctx.store.list_vms(email):
        record = records.get(vm.id)
        if record is not None:
            listed.append(SwiftorVmOut.of(vm, ctx.engine.vm_state(record)))
    return VmListOut(vms=listed)


@router.post("/vms/create")
async def create_vm(ctx: ContextDep, body: CreateBody, email: UserDep) -> VmCreatedOut:
    if "\x00" in body.config.password.get_secret_value():
        raise SwiftorFailure(400, "the password cannot contain NUL characters")
    distribution = body.os.distribution.code.lower()
    desktop = (body.os.desktop or "").lower() or None
    problem = distribution_problem(distribution, desktop)
    if problem:
        raise SwiftorFailure(400, problem)
    engine = ctx.engine
    plan = plan_for(await run_in_threadpool(ctx.store.user_plan, email))
    record = await engine.create_vm(
        image=ctx.image_for(distribution, desktop),
        vcpu_count=body.os.cpu,
        mem_size_mib=body.os.ram * 1024,
        fs_size_mib=plan.storage_gb * 1024,
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
        await run_in_threadpool(ctx.store.insert_vm, vm, body.config.password.get_secret_value())
    except BaseException:
        await engine.delete_vm(record.id, owner=owner_of(email))
        raise
    log.info("swiftor: created vm %s for %s", vm.id, email)
    listed = SwiftorVmOut.of(vm, "stopped")
    return VmCreatedOut(
        message="VM created successfully",
        vm=CreatedVmOut(**listed.model_dump(), user_id=user_id_of(email)),
    )


@router.get("/vms/start/{vmid}")
async def start_vm(ctx: ContextDep, vmid: str, email: UserDep) -> MessageOut:
    vm = ctx.owned_vm(vmid, email)
    plan = plan_for(ctx.store.user_plan(email))
    problem = plan.violation(vm.cpu, vm.ram_gb)
    if problem:
        raise SwiftorFailure(400, problem)
    engine = ctx.engine
    async with ctx.start_lock(email):  # two starts at once must not both pass the count
        if ctx.engine_state(vm) not in LIVE_STATES:
            running = [
                other
                for other in engine.list_vms(owner=owner_of(email))
                if other.id != vmid and engine.vm_state(other) in LIVE_STATES
            ]
            problem = plan.running_violation(len(running))
            if problem:
                raise SwiftorFailure(400, problem)
            await _start(ctx, vm)
    return MessageOut(message="VM start process initiated successfully in the background.")


@router.get("/vms/stop/{vmid}")
async def stop_vm(ctx: ContextDep, vmid: str, email: UserDep) -> MessageOut:
    ctx.owned_vm(vmid, email)
    await ctx.engine.stop_vm(vmid, owner=owner_of(email))
    return MessageOut(message="VM stopped successfully")


@router.get("/vms/delete/{vmid}")
async def delete_vm(ctx: ContextDep, vmid: str, email: UserDep) -> MessageOut:
    ctx.owned_vm(vmid, email)
    try:
        await ctx.engine.delete_vm(vmid, owner=owner_of(email))
    except NotFound:
        log.warning("swiftor: vm %s was already gone from the engine", vmid)
    await run_in_threadpool(ctx.store.delete_vm, vmid)
    log.info("swiftor: deleted vm %s", vmid)
    return MessageOut(message="VM deleted successfully")


@router.post("/vms/exec")
async def exec_command(ctx: ContextDep, body: ExecBody, email: UserDep) -> SwiftorExecOut:
    """Legacy Swiftor route ("Execute a command on a VM"); the VM must be running."""
    ctx.owned_vm(body.vmid, email)
    argv = ["/bin/sh", "-c", body.command] if isinstance(body.command, str) else body.command
    code, out, err = await ctx.engine.exec(
        body.vmid, argv, owner=owner_of(email), timeout=body.timeout_secs or EXEC_TIMEOUT
    )
    return SwiftorExecOut(
        exit_code=code,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
    )


@router.get("/vms/ssh_key/{vmid}")
async def ssh_key(ctx: ContextDep, vmid: str, email: UserDep) -> SwiftorSshKeyOut:
    """Local extension: the VM's SSH key for the engine's SSH-over-TLS gateway."""
    ctx.owned_vm(vmid, email)
    return SwiftorSshKeyOut(
        ssh_private_key=ctx.engine.ssh_private_key(vmid, owner_of(email)), ssh_port=ctx.engine.ssh_port
    )


@router.get("/vms/secrets")
def list_secrets(ctx: ContextDep, email: UserDep, vmid: str | None = None) -> SecretsOut:
    vms = [ctx.owned_vm(vmid, email)] if vmid else ctx.store.list_vms(email)
    return SecretsOut(secrets={vm.id: ctx.store.secrets(vm.id) for vm in vms})


@router.post("/vms/secrets")
def set_secret(ctx: ContextDep, body: SecretBody, email: UserDep) -> SecretChangedOut:
    ctx.owned_vm(body.vmid, email)
    value = body.value.get_secret_value()
    if "\x00" in value:
        raise SwiftorFailure(400, "a secret value cannot contain NUL characters")
    ctx.store.set_secret(body.vmid, body.key, value)
    return SecretChangedOut(message="Secret added successfully", vmid=body.vmid, key=body.key)


@router.delete("/vms/secrets/{vmid}/{key}")
def delete_secret(ctx: ContextDep, vmid: str, key: str, email: UserDep) -> SecretChangedOut:
    ctx.owned_vm(vmid, email)
    if not ctx.store.delete_secret(vmid, key):
        raise SwiftorFailure(404, f"Secret not found: {key}")
    return SecretChangedOut(message="Secret removed successfully", vmid=vmid, key=key)


@router.get("/vms/networking")
def list_mappings(ctx: ContextDep, email: UserDep, vmid: str | None = None) -> MappingsOut:
    vms = [ctx.owned_vm(vmid, email)] if vmid else ctx.store.list_vms(email)
    return MappingsOut(networking={vm.id: _mappings_of(ctx.store.mappings(vm.id)) for vm in vms})


def _mappings_of(mappings: list[Mapping]) -> dict[str, MappingOut]:
    return {m.name: MappingOut(subdomain=m.name, internal_port=m.port) for m in mappings}


@router.post("/vms/networking")
def add_mapping(ctx: ContextDep, body: MappingBody, email: UserDep) -> MappingAddedOut:
    ctx.owned_vm(body.vmid, email)
    if not ctx.store.add_mapping(body.vmid, body.name, body.internal_port):
        raise SwiftorFailure(400, f"Mapping {body.name!r} already exists on this VM")
    return MappingAddedOut(
        message="Subdomain mapping added successfully",
        subdomain=f"{body.name}-{body.vmid}.{ctx.domain}",
        internal_port=body.internal_port,
    )


@router.delete("/vms/networking/{vmid}/{name}")
def delete_mapping(ctx: ContextDep, vmid: str, name: str, email: UserDep) -> MappingDeletedOut:
    ctx.owned_vm(vmid, email)
    if not ctx.store.delete_mapping(vmid, name):
        raise SwiftorFailure(404, f"Mapping not found: {name}")
    return MappingDeletedOut(message="Subdomain mapping removed successfully", vmid=vmid, name=name)


async def _start(ctx: SwiftorContext, vm: SwiftorVm) -> None:
    engine, owner = ctx.engine, owner_of(vm.email)
    if ctx.engine_state(vm) == "dead":
        await engine.stop_vm(vm.id, owner=owner)
    await engine.start_vm(vm.id, env=ctx.store.secrets(vm.id), owner=owner)
    try:
        await _prepare_storage(engine, vm)
    except BaseException:
        await engine.stop_vm(vm.id, owner=owner)  # never run on a /config it must not see
        raise
    log.info("swiftor: started vm %s", vm.id)


async def _prepare_storage(engine: Engine, vm: SwiftorVm) -> None:
    """Give the freshly started VM its `/config`: kept when persistent, empty otherwise."""
    script = f"mkdir -p {CONFIG_DIR}" if vm.persistent else f"rm -rf {CONFIG_DIR} && mkdir -p {CONFIG_DIR}"
    code, _out, err = await engine.exec(
        vm.id, ["/bin/sh", "-c", script], owner=owner_of(vm.email), timeout=30
    )
    if code != 0:
        raise SwiftorFailure(500, f"could not prepare {CONFIG_DIR}: {err.decode(errors='replace')[:200]}")
