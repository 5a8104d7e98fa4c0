"""The engine's HTTP app: the Vers-compatible API, `/api/rootfs`, and Swiftor mounted beside them.

`create_app(engine, token)` builds it; it does not start or stop the engine (the daemon does, and
tests drive it explicitly). Outermost first: the host proxy (public VM URLs: Swiftor mappings and
Vers domains), then the guards
(`guards.py`: rate limit, authentication before any body, body limits, per-caller idempotency,
last-resort 500), then the routers; `/swiftor` is a sub-application with guards of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import Mount

from vmtui import __version__
from vmtui.local.api import account, catalog, events, images, rootfs, vers
from vmtui.local.api.deps import EngineDep
from vmtui.local.api.errors import install_error_handlers, vers_error
from vmtui.local.api.guards import (
    AccessGate,
    Authenticator,
    BodyLimit,
    Caller,
    InternalErrors,
    Rejection,
    Scope,
)
from vmtui.local.api.host_proxy import HostProxy
from vmtui.local.api.listed_rows import ListedRows
from vmtui.local.api.schemas import Capabilities, HealthOut
from vmtui.local.api.swiftor import SwiftorContext, swiftor_app
from vmtui.local.engine import Engine
from vmtui.local.idempotency import IdempotencyMiddleware
from vmtui.local.ratelimit import RateLimiter

API_PREFIX = "/api/v1"
SWIFTOR_PREFIX = "/swiftor"
PUBLIC_PATHS = frozenset({"/health"})
JSON_BODY_LIMIT = 1024 * 1024
FILE_BODY_LIMIT = 16 * 1024 * 1024
"""Bodies that carry data base64 in JSON (`PUT /vm/{id}/files`, exec `stdin`): about 12 MB of it."""
_ROOTFS_UPLOAD = re.compile(r"^/api(/v1)?/rootfs/[^/]+$")
_IMAGE_UPLOAD = "/api/v1/images/upload"
_DATA_ROUTE = re.compile(r"^/api/v1/vm/[^/]+/(files|exec|exec/stream)$")


async def health(engine: EngineDep) -> HealthOut:
    return HealthOut(
        status="ok",
        version=__version__,
        capabilities=Capabilities(),
        vms=len(engine.list_vms()) if engine.store is not None else 0,
    )


def create_app(
    engine: Engine, token: str, *, rate: float = 50.0, burst: int = 100, swiftor_secret: str | None = None
) -> FastAPI:
    """The HTTP app over a started (or soon started) engine. `token` is the bearer token; with a
    `swiftor_secret` the Swiftor API is mounted at `/swiftor` and its VM URLs are proxied too."""
    app = FastAPI(
        title="vmtui local engine (Vers-compatible)", version=__version__, docs_url=None, redoc_url=None
    )
    app.state.engine = engine
    app.state.listed_rows = ListedRows()
    install_error_handlers(app)
    app.state.key_id = account.key_id(token)
    app.include_router(vers.router, prefix=API_PREFIX)
    app.include_router(events.router, prefix=API_PREFIX)
    app.include_router(images.router, prefix=API_PREFIX)
    app.include_router(catalog.router, prefix=API_PREFIX)
    app.include_router(account.router, prefix=API_PREFIX)
    app.include_router(rootfs.router, prefix=API_PREFIX)
    app.include_router(rootfs.router, prefix="/api")
    app.add_api_route("/health", health, methods=["GET"])

    delegated: tuple[str, ...] = ()
    context: SwiftorContext | None = None
    if swiftor_secret:
        context = SwiftorContext(engine)
        swiftor = swiftor_app(context, swiftor_secret)
        mount = Mount(SWIFTOR_PREFIX, app=swiftor)
        # Every path under the prefix is Swiftor's, also one with an encoded newline in it.
        mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
        app.router.routes.append(mount)
        delegated = (SWIFTOR_PREFIX + "/",)
        app.openapi = lambda: _merged_openapi(app, swiftor)  # type: ignore[method-assign]
    app.add_middleware(
        InternalErrors, secrets=[token, *([swiftor_secret] if swiftor_secret else [])], error=vers_error
    )
    app.add_middleware(IdempotencyMiddleware, store=engine.db, error=vers_error)
    app.add_middleware(
        BodyLimit, limit_for=lambda scope: _body_limit(engine, scope, delegated), error=vers_error
    )
    app.add_middleware(
        AccessGate,
        authenticate=token_authenticator(token),
        error=vers_error,
        limiter=RateLimiter(rate, burst),
        public=PUBLIC_PATHS,
        delegated=delegated,
    )
    app.add_middleware(HostProxy, engine=engine, swiftor=context)
    return app


def token_authenticator(token: str) -> Authenticator:
    """`Authorization: Bearer <token>`, compared in constant time; the caller's identity is a hash of
    the token (so a rotated token never sees records kept for the old one)."""
    expected = f"Bearer {token}".encode()
    caller = Caller(identity="token:" + hashlib.sha256(token.encode()).hexdigest()[:32])

    def authenticate(headers: dict[bytes, bytes]) -> Caller | Rejection:
        if hmac.compare_digest(headers.get(b"authorization", b""), expected):
            return caller
        return Rejection(401, "Missing or invalid Authorization header")

    return authenticate


def _body_limit(engine: Engine, scope: Scope, delegated: tuple[str, ...]) -> int | None:
    """Bytes a request body may have: rootfs uploads up to the engine's upload cap (streamed to
    disk), file writes and exec FILE_BODY_LIMIT, every other body JSON_BODY_LIMIT; a mounted app sets its own."""
    path: str = scope["path"]
    if delegated and path.startswith(delegated):
        return None
    if (scope["method"] == "PUT" and _ROOTFS_UPLOAD.match(path)) or path == _IMAGE_UPLOAD:
        return engine.max_upload_bytes
    if _DATA_ROUTE.match(path):
        return FILE_BODY_LIMIT
    return JSON_BODY_LIMIT


def _merged_openapi(app: FastAPI, swiftor: FastAPI) -> dict[str, Any]:
    """One schema for clients and fuzzers: the engine's own routes plus the mounted Swiftor app's."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        sub = swiftor.openapi()
        for path, operations in sub.get("paths", {}).items():
            schema.setdefault("paths", {})[SWIFTOR_PREFIX + path] = operations
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, component in sub.get("components", {}).get("schemas", {}).items():
            if components.setdefault(name, component) != component:
                raise RuntimeError(f"schema {name!r} means two things in the Vers and Swiftor APIs")
        app.openapi_schema = schema
    return app.openapi_schema
