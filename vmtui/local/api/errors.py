"""How the Vers-compatible API answers errors (`docs/research/vers-api.md`).

JSON `{"success": false, "error": "..."}` for application errors, plain-text 400/422 for bodies that
are not JSON or not the expected shape, the way the Vers server's extractors answer.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from vmtui.core.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ProviderError,
    QuotaExceeded,
    Unavailable,
    Unsupported,
)
from vmtui.local.engine import BranchFailed

log = logging.getLogger("vmtui.local.api")

_STATUS_OF: dict[type[ProviderError], int] = {
    BadRequest: 400,
    QuotaExceeded: 403,
    NotFound: 404,
    Conflict: 409,
    Unsupported: 501,
    Unavailable: 503,
}


def vers_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status, headers=headers)


def status_of(exc: ProviderError) -> int:
    return exc.status or next((code for cls, code in _STATUS_OF.items() if isinstance(exc, cls)), 500)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProviderError)
    async def engine_error(_request: Request, exc: ProviderError) -> JSONResponse:
        retry = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else None
        return vers_error(status_of(exc), exc.message, retry)

    @app.exception_handler(BranchFailed)
    async def branch_failed(_request: Request, exc: BranchFailed) -> JSONResponse:
        if isinstance(exc.error, ProviderError):
            status, message = status_of(exc.error), exc.error.message
        else:
            log.error("branch failed after %d VM(s)", len(exc.created), exc_info=exc.error)
            status, message = 500, "internal error"
        return JSONResponse(
            {"vms": [{"vm_id": vm.id} for vm in exc.created], "error": message}, status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> PlainTextResponse:
        return validation_response(exc.errors())

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        return vers_error(exc.status_code, str(exc.detail))


def validation_response(errors: Any) -> PlainTextResponse:
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
