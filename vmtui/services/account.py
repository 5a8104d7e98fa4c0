"""Who a profile's key belongs to, the server's version and its health (`vmtui whoami`, `W` in the TUI),
each where the API has it (None otherwise). The key itself is never shown, only its id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from vmtui.core.errors import NotFound, Unsupported
from vmtui.core.text import one_line
from vmtui.providers.base import AccountApi


async def account_document(profile: str, provider: AccountApi) -> dict[str, Any]:
    """The server's own documents: `{"profile", "whoami", "version", "health"}`."""
    return {
        "profile": profile,
        "whoami": await _optional(provider.whoami),
        "version": await _optional(provider.version),
        "health": await _optional(provider.health),
    }


def account_lines(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The document as `(what, value)` lines, each value one printable line."""
    whoami, version, health = document["whoami"] or {}, document["version"] or {}, document["health"] or {}
    user, org, key = whoami.get("user") or {}, whoami.get("org") or {}, whoami.get("api_key") or {}
    server = " ".join(str(v) for v in (version.get("executable_name"), version.get("workspace_version")) if v)
    lines: list[tuple[str, object]] = [
        ("profile", document["profile"]),
        ("user", user.get("email") or user.get("user_name") or user.get("id") or "-"),
        ("org", org.get("name") or "-"),
        ("api key id", key.get("id") or "-"),
        ("server", server or "-"),
        ("health", health.get("status") or "-"),
    ]
    return [(what, one_line(str(value), 200)) for what, value in lines]


def account_user(document: dict[str, Any]) -> str:
    """The key's user, for `-q`."""
    user = (document["whoami"] or {}).get("user", {})
    return one_line(str(user.get("email") or user.get("id") or "-"), 200)


async def _optional(call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
    try:
        return await call()
    except (NotFound, Unsupported):
        return None
