"""Who the bearer token is (`GET /whoami`) and key validation (`POST /keys/validate`), mounted under
`/api/v1`. The engine has one account: its owner (the OS user running it), one organisation
(`catalog.ORG_NAME`) and one API key, the token; the key's `id` is a hash of it, never the token."""

from __future__ import annotations

import getpass
import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Body, Request

from vmtui.local.api.deps import EngineDep
from vmtui.local.api.schemas import KeyValidOut, WhoamiKeyOut, WhoamiOrgOut, WhoamiOut, WhoamiUserOut
from vmtui.local.catalog import ORG_NAME

router = APIRouter()
KEY_LABEL = "vmtui serve"


def key_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@router.get("/whoami")
async def whoami(engine: EngineDep, request: Request) -> WhoamiOut:
    user = getpass.getuser()
    return WhoamiOut(
        user=WhoamiUserOut(id=engine.owner_id, email=f"{user}@localhost", user_name=user),
        org=WhoamiOrgOut(id=engine.owner_id, name=ORG_NAME),
        api_key=WhoamiKeyOut(id=request.app.state.key_id, label=KEY_LABEL, created_at=engine.created_at),
    )


@router.post("/keys/validate")
async def validate_key(
    request: Request, body: Annotated[dict[str, str] | None, Body()] = None
) -> KeyValidOut:
    """The bearer key is valid (it passed authentication); a body `{"api_key": ...}` asks about that
    key instead, compared in constant time by hash."""
    candidate = (body or {}).get("api_key")
    if candidate is not None and not hmac.compare_digest(key_id(candidate), request.app.state.key_id):
        return KeyValidOut(valid=False, message="API key is not valid")
    return KeyValidOut(valid=True, message="API key is valid")
