"""What the `vmtui` sub-commands share: the profile and output options, the runner that opens the
profile's provider and turns its errors into vers-cli's exit codes, naming a VM or a commit the
way users write them, and the table/JSON output.

Exit codes are vers-cli's: 0 ok, 1 other failure, 2 authentication, 3 not found, 4 conflict (e.g. a
commit VMs still use), 5 refused as invalid or not supported by the profile's platform, 6 the
platform unreachable or timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from vmtui.config import ConfigError, Settings, load_settings
from vmtui.core.errors import (
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    ProviderError,
    Unavailable,
    Unsupported,
)
from vmtui.core.models import Commit, Vm
from vmtui.core.text import one_line
from vmtui.providers.base import Provider

EXIT_CODES: tuple[tuple[type[ProviderError], int], ...] = (
    (AuthError, 2),
    (NotFound, 3),
    (Conflict, 4),
    (BadRequest, 5),
    (Unsupported, 5),
    (Unavailable, 6),
)

Api = TypeVar("Api")
SIZE = re.compile(r"(?P<number>\d+)\s*(?P<unit>[mg]i?b?)?", re.IGNORECASE)

Work = Callable[[Provider, argparse.Namespace], Awaitable[int | None]]
"""A command's body: it prints its output and returns its exit code (None: 0)."""


def exit_code(exc: ProviderError) -> int:
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def add_profile(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("-p", "--profile", help="profile to use (default: the active one)")
    return parser


def add_output(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`-p PROFILE`, `--json` and `-q` (ids or names only)."""
    add_profile(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only ids or names")
    return parser


def runner(work: Work) -> Callable[[argparse.Namespace], int]:
    """`func` for a parser: runs `work` with the profile's provider, errors printed on one line."""

    def run(args: argparse.Namespace) -> int:
        command = " ".join(filter(None, ("vmtui", args.command, getattr(args, "verb", None))))
        try:
            settings = load_settings()
            return asyncio.run(_with_provider(settings, args, work))
        except ConfigError as exc:
            print(f"{command}: config error: {exc}", file=sys.stderr)
            return 1
        except ProviderError as exc:
            print(f"{command}: {one_line(str(exc), 500)}", file=sys.stderr)
            return exit_code(exc)
        except KeyboardInterrupt:
            return 130

    return run


async def _with_provider(settings: Settings, args: argparse.Namespace, work: Work) -> int:
    provider = await provider_for(settings, args.profile)
    try:
        return await work(provider, args) or 0
    finally:
        await provider.aclose()


async def provider_for(
    settings: Settings, profile_name: str | None, capability: str | None = None, what: str = ""
) -> Provider:
    """The profile's provider, built as the TUI builds it (the local engine is started if needed);
    with a `capability`, refused (`Unsupported`) unless the provider has it."""
    from vmtui.services.registry import Registry  # imported here: every `vmtui` run builds the parsers

    name, profile = settings.profile(profile_name)
    provider = await Registry(settings).open(name, profile, lambda _status: None, settings.poll.timeout)
    if capability is not None:
        try:
            require(provider, capability, what)
        except Unsupported:
            await provider.aclose()
            raise
    return provider


def unsupported(provider: Provider, what: str) -> Unsupported:
    """The refusal (exit 5) of what the profile's platform cannot do."""
    return Unsupported(
        f"profile {provider.name!r} ({provider.kind}): {what} is not supported by this platform"
    )


def require(provider: Provider, capability: str, what: str) -> None:
    """Refuse what the provider's capability flag (the one the TUI greys actions by) says it cannot do."""
    if not getattr(provider.capabilities, capability):
        raise unsupported(provider, what)


def extra(provider: Provider, api: type[Api], capability: str, what: str) -> Api:
    """The provider as one of the extras' protocols (`LabelsApi`...), refused like `require`."""
    require(provider, capability, what)
    if not isinstance(provider, api):
        raise unsupported(provider, what)
    return provider


async def find_vm(provider: Provider, ref: str) -> Vm:
    """The VM with this id, else the only one whose id starts with it or whose name label or
    vers-cli alias is it."""
    vms = await provider.list_vms()
    exact = [vm for vm in vms if vm.id == ref]
    matches = exact or [vm for vm in vms if vm.id.startswith(ref) or ref in (vm.display_name, vm.alias)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no VM named {ref!r} in profile {provider.name!r}")
    raise BadRequest(f"{ref!r} matches {len(matches)} VMs: {', '.join(vm.id for vm in matches[:5])}")


async def find_commit(provider: Provider, ref: str) -> Commit:
    """The commit with this id (one request), else the only one whose id starts with it or whose name
    is it (the whole list)."""
    try:
        exact = await provider.commit_parents(ref)
    except (NotFound, BadRequest, Unsupported):
        exact = []
    if exact and exact[0].id == ref:
        return exact[0]
    commits = await provider.list_commits()
    matches = [c for c in commits if c.id == ref] or [
        c for c in commits if c.id.startswith(ref) or c.name == ref
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no commit named {ref!r} in profile {provider.name!r}")
    raise BadRequest(f"{ref!r} matches {len(matches)} commits: {', '.join(c.id for c in matches[:5])}")


def confirm(question: str) -> bool:
    """Ask on a terminal; without one the answer is no (the caller says to pass -y)."""
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def read_secret(what: str) -> str:
    """A secret from stdin, so it never lands in shell history: asked without echo on a terminal, else
    the whole input without its final newline."""
    if sys.stdin.isatty():
        return getpass.getpass(f"{what}: ")
    value = sys.stdin.read()
    return value.removesuffix("\n")


def key_value(item: str, flag: str) -> tuple[str, str]:
    """`KEY=VALUE` (the value may be empty or hold more `=`), else refused (exit 5)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise BadRequest(f"{flag} takes KEY=VALUE, not {item!r}")
    return key, value


def mib(text: str, flag: str) -> int:
    """A size in MiB from `512`, `512M`, `512MiB` or `4G`; anything else is refused (exit 5)."""
    match = SIZE.fullmatch(text.strip())
    if match is None:
        raise BadRequest(f"{flag}: {text!r} is not a size (MiB, or with M or G: 512M, 4G)")
    unit = (match["unit"] or "m")[0].lower()
    return int(match["number"]) * (1024 if unit == "g" else 1)


async def for_each(
    names: Sequence[str],
    act: Callable[[str], Awaitable[object]],
    done: str,
    noun: str,
    args: argparse.Namespace,
) -> None:
    """`act` on each name in turn, each reported as done (`-q`: the name; `--json`: all at the end as
    `{done: [...]}`); the first refusal stops it and names what was done before it."""
    finished: list[str] = []
    for name in names:
        try:
            await act(name)
        except ProviderError as exc:
            if finished:
                exc.message = f"{exc.message} ({done} before it: {', '.join(finished)})"
            raise
        finished.append(name)
        if not args.json:
            print(one_line(name, 200) if args.quiet else f"{done} {noun} {one_line(name, 200)}")
    if args.json:
        print(json.dumps({done: finished}))


def print_json(value: object) -> None:
    """Models (or lists of them) as JSON, without the profile name every model carries."""
    print(json.dumps(_plain(value)))


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude={"provider"})
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def print_ids(ids: Iterable[str]) -> None:
    for one in ids:
        print(one_line(one, 200))


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Aligned columns; every cell made safe for the terminal (ids and names come from the server)."""
    cells = [[one_line(cell, 80) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *cells, strict=False)]
    for row in (header, *cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
