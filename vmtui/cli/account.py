"""`vmtui whoami`: who the profile's key belongs to, the server's version and its health, each where
the API has it (null otherwise). The key itself is never printed, only its id."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from vmtui.cli.common import add_output, runner, unsupported
from vmtui.core.errors import NotFound, Unsupported
from vmtui.core.text import one_line
from vmtui.providers.base import AccountApi, Provider


def register(subparsers: argparse._SubParsersAction) -> None:
    whoami = add_output(
        subparsers.add_parser("whoami", help="the key's user and org, server version, health")
    )
    whoami.set_defaults(func=runner(_whoami))


async def _whoami(provider: Provider, args: argparse.Namespace) -> None:
    if not isinstance(provider, AccountApi):
        raise unsupported(provider, "whoami")
    answer = {
        "profile": provider.name,
        "whoami": await _optional(provider.whoami),
        "version": await _optional(provider.version),
        "health": await _optional(provider.health),
    }
    if args.json:
        print(json.dumps(answer))
        return
    user = (answer["whoami"] or {}).get("user", {})
    if args.quiet:
        print(one_line(str(user.get("email") or user.get("id") or "-"), 200))
        return
    for key, value in _lines(answer):
        print(f"{key + ':':16}{one_line(str(value), 200)}")


async def _optional(call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
    try:
        return await call()
    except (NotFound, Unsupported):
        return None


def _lines(answer: dict[str, Any]) -> list[tuple[str, object]]:
    whoami, version, health = answer["whoami"] or {}, answer["version"] or {}, answer["health"] or {}
    user, org, key = whoami.get("user") or {}, whoami.get("org") or {}, whoami.get("api_key") or {}
    return [
        ("profile", answer["profile"]),
        ("user", user.get("email") or user.get("user_name") or user.get("id") or "-"),
        ("org", org.get("name") or "-"),
        ("api key id", key.get("id") or "-"),
        (
            "server",
            " ".join(str(v) for v in (version.get("executable_name"), version.get("workspace_version")) if v)
            or "-",
        ),
        ("health", health.get("status") or "-"),
    ]
