"""HS256 bearer tokens of the local Swiftor API, shaped like Swiftor's (Supabase) tokens.

A token carries the user's `email` (and `sub`), is signed with the engine's secret, and is checked
the way Swiftor's backend checks it: HS256 only, `aud` ignored, user = the `email` claim.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

ALGORITHM = "HS256"
SECRET_FILE = "jwt-secret"
DEFAULT_LIFETIME_S = 30 * 24 * 3600
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired, or has no usable email."""


def valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email))


@dataclass(frozen=True)
class TokenUser:
    email: str
    plan: str | None
    """A plan named by the token (the engine owner's way to grant one); None keeps the stored plan."""


def issue_token(
    secret: str, email: str, *, plan: str | None = None, lifetime_s: int = DEFAULT_LIFETIME_S
) -> str:
    """A signed token for `email`, valid for `lifetime_s` seconds, optionally granting `plan`."""
    email = email.strip().lower()
    if not valid_email(email):
        raise ValueError(f"not an email address: {email!r}")
    now = int(time.time())
    claims: dict[str, object] = {
        "email": email,
        "sub": email,
        "aud": "authenticated",
        "iat": now,
        "exp": now + lifetime_s,
    }
    if plan:
        claims["plan"] = plan
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> TokenUser:
    """Who the token was issued for; raises InvalidToken otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"verify_aud": False, "require": ["email"]}
        )
    except jwt.PyJWTError:
        raise InvalidToken("Invalid token") from None
    email = claims.get("email")
    plan = claims.get("plan")
    if not isinstance(email, str) or not valid_email(email) or not isinstance(plan, (str, type(None))):
        raise InvalidToken("Invalid token")
    return TokenUser(email=email.lower(), plan=plan)


def load_or_create_secret(state_dir: Path) -> str:
    """The engine's signing secret from `<state_dir>/jwt-secret`, created 0600 on first use."""
    path = state_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if len(secret) < 32:
            raise ValueError(
                f"{path} is too short to be a signing secret; delete it to make a new one"
            ) from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return secret
