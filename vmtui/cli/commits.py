"""`vmtui commit list|delete|publish|unpublish|history` and `vmtui tag list|create|move|delete`.

Flags follow vers-cli where it has them (`-q` ids only, `-d` description, `--commit` to move a tag);
`--json` prints what was listed or changed as JSON. A commit is named by id, unique id prefix or name.
Exit codes are vers-cli's: 0 ok, 1 other failure, 2 authentication, 3 not found, 4 conflict (e.g. a
commit VMs still use), 5 refused as invalid, 6 the platform unreachable or timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from vmtui.config import ConfigError, load_settings
from vmtui.core.errors import (
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    ProviderError,
    Unavailable,
    Unsupported,
)
from vmtui.core.models import Commit
from vmtui.core.text import one_line
from vmtui.providers.base import CommitTagsApi, Provider

EXIT_CODES: tuple[tuple[type[ProviderError], int], ...] = (
    (AuthError, 2),
    (NotFound, 3),
    (Conflict, 4),
    (BadRequest, 5),
    (Unavailable, 6),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    commit = subparsers.add_parser("commit", help="list, delete, publish or unpublish commits")
    verbs = commit.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = _with_output(verbs.add_parser("list", help="every commit of the profile"))
    listing.set_defaults(func=_runner(_commit_list))
    delete = _with_output(verbs.add_parser("delete", help="delete commits (refused while VMs use one)"))
    delete.add_argument("commits", nargs="+", metavar="COMMIT", help="commit id, unique prefix or name")
    delete.set_defaults(func=_runner(_commit_delete))
    for verb, public in (("publish", True), ("unpublish", False)):
        what = "make commits public" if public else "make public commits private again"
        parser = _with_output(verbs.add_parser(verb, help=what))
        parser.add_argument("commits", nargs="+", metavar="COMMIT", help="commit id, unique prefix or name")
        parser.set_defaults(func=_runner(_commit_publish), public=public)
    history = _with_output(verbs.add_parser("history", help="a commit and its ancestors, newest first"))
    history.add_argument("commit", metavar="COMMIT", help="commit id, unique prefix or name")
    history.set_defaults(func=_runner(_commit_history))

    tag = subparsers.add_parser("tag", help="list, create, move or delete commit tags")
    verbs = tag.add_subparsers(dest="verb", metavar="VERB", required=True)
    _with_output(verbs.add_parser("list", help="every commit tag")).set_defaults(func=_runner(_tag_list))
    create = _with_output(verbs.add_parser("create", help="name a commit"))
    create.add_argument("name", metavar="TAG")
    create.add_argument("commit", metavar="COMMIT", help="commit id, unique prefix or name")
    create.add_argument("-d", "--description", default="", help="what the tag stands for")
    create.set_defaults(func=_runner(_tag_create))
    move = _with_output(verbs.add_parser("move", aliases=["update"], help="point a tag at another commit"))
    move.add_argument("name", metavar="TAG")
    move.add_argument("commit", metavar="COMMIT", nargs="?", help="commit id, unique prefix or name")
    move.add_argument(
        "--commit", dest="commit_flag", metavar="COMMIT", help="the same, as vers-cli writes it"
    )
    move.set_defaults(func=_runner(_tag_move))
    delete = _with_output(verbs.add_parser("delete", help="delete tags (their commits stay)"))
    delete.add_argument("names", nargs="+", metavar="TAG")
    delete.set_defaults(func=_runner(_tag_delete))


def _with_output(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("-p", "--profile", help="profile to use (default: the active one)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only ids or names")
    return parser


Work = Callable[[Provider, argparse.Namespace], Awaitable[object]]


def _runner(work: Work) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        command = f"vmtui {args.command} {args.verb}"
        try:
            settings = load_settings()
            asyncio.run(_with_provider(settings, args, work))
        except ConfigError as exc:
            print(f"{command}: config error: {exc}", file=sys.stderr)
            return 1
        except ProviderError as exc:
            print(f"{command}: {one_line(str(exc), 500)}", file=sys.stderr)
            return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)
        except KeyboardInterrupt:
            return 130
        return 0

    return run


async def _with_provider(settings, args: argparse.Namespace, work: Work) -> None:
    from vmtui.services.registry import Registry  # imported here: every `vmtui` run builds this parser

    name, profile = settings.profile(args.profile)
    provider = await Registry(settings).open(name, profile, lambda _status: None, settings.poll.timeout)
    try:
        await work(provider, args)
    finally:
        await provider.aclose()


# ---------------------------------------------------------------------------- commits


async def _find_commit(provider: Provider, ref: str) -> Commit:
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


async def _commit_list(provider: Provider, args: argparse.Namespace) -> None:
    _print_commits(await provider.list_commits(), args)


async def _commit_history(provider: Provider, args: argparse.Namespace) -> None:
    commit = await _find_commit(provider, args.commit)
    _print_commits(await provider.commit_parents(commit.id), args)


async def _commit_delete(provider: Provider, args: argparse.Namespace) -> None:
    """Each commit in turn; the first refusal stops (and names what was deleted before it)."""
    deleted: list[str] = []
    for ref in args.commits:
        commit = await _find_commit(provider, ref)
        try:
            await provider.delete_commit(commit.id)
        except ProviderError as exc:
            if deleted:
                exc.message = f"{exc.message} (deleted before it: {', '.join(deleted)})"
            raise
        deleted.append(commit.id)
        if not args.json:
            print(commit.id if args.quiet else f"deleted commit {commit.id}")
    if args.json:
        print(json.dumps({"deleted": deleted}))


async def _commit_publish(provider: Provider, args: argparse.Namespace) -> None:
    changed: list[Commit] = []
    for ref in args.commits:
        commit = await _find_commit(provider, ref)
        changed.append(await provider.update_commit(commit.id, is_public=args.public))
        if not args.json:
            verb = "published" if args.public else "unpublished"
            print(commit.id if args.quiet else f"{verb} commit {commit.id}")
    if args.json:
        print(json.dumps([c.model_dump(mode="json", exclude={"provider"}) for c in changed]))


def _print_commits(commits: Sequence[Commit], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([c.model_dump(mode="json", exclude={"provider"}) for c in commits]))
    elif args.quiet:
        for commit in commits:
            print(commit.id)
    else:
        rows = [
            (
                c.id,
                one_line(c.name or "", 40),
                _when(c.created_at),
                "yes" if c.is_public else "no",
                c.parent_vm_id or "-",
            )
            for c in commits
        ]
        _table(("COMMIT ID", "NAME", "CREATED", "PUBLIC", "PARENT VM"), rows)


# ---------------------------------------------------------------------------- tags


def _tags(provider: Provider) -> CommitTagsApi:
    if isinstance(provider, CommitTagsApi) and provider.capabilities.has_tags:
        return provider
    raise BadRequest(f"profile {provider.name!r} ({provider.kind}) has no commit tags")


async def _tag_list(provider: Provider, args: argparse.Namespace) -> None:
    tags = sorted(await _tags(provider).list_tags(), key=lambda tag: tag.name)
    if args.json:
        print(json.dumps([t.model_dump(mode="json", exclude={"provider"}) for t in tags]))
    elif args.quiet:
        for tag in tags:
            print(tag.name)
    else:
        rows = [
            (t.name, t.commit_id, _when(t.updated_at or t.created_at), one_line(t.description or "", 60))
            for t in tags
        ]
        _table(("TAG", "COMMIT ID", "UPDATED", "DESCRIPTION"), rows)


async def _tag_create(provider: Provider, args: argparse.Namespace) -> None:
    tags = _tags(provider)
    commit = await _find_commit(provider, args.commit)
    await tags.create_tag(args.name, commit.id, args.description or None)
    _report_tag(args, "tagged", args.name, commit.id)


async def _tag_move(provider: Provider, args: argparse.Namespace) -> None:
    ref = args.commit_flag or args.commit
    if not ref:
        raise BadRequest("name the commit to move the tag to: vmtui tag move TAG COMMIT")
    tags = _tags(provider)
    commit = await _find_commit(provider, ref)
    await tags.move_tag(args.name, commit.id)
    _report_tag(args, "moved", args.name, commit.id)


async def _tag_delete(provider: Provider, args: argparse.Namespace) -> None:
    tags = _tags(provider)
    for name in args.names:
        await tags.delete_tag(name)
        if not args.json:
            print(name if args.quiet else f"deleted tag {name}")
    if args.json:
        print(json.dumps({"deleted": list(args.names)}))


def _report_tag(args: argparse.Namespace, verb: str, name: str, commit_id: str) -> None:
    if args.json:
        print(json.dumps({"tag_name": name, "commit_id": commit_id}))
    else:
        print(name if args.quiet else f"{verb} {commit_id} as {name}")


# ---------------------------------------------------------------------------- output


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns; every cell made safe for the terminal (ids and names come from the server)."""
    rows = [[one_line(cell, 80) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
