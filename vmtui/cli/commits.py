"""`vmtui commit create|list|delete|publish|unpublish|history` and `vmtui tag list|create|move|delete`.

Flags follow vers-cli where it has them (`-q` ids only, `-d` description, `--commit` to move a tag);
`--json` prints what was listed or changed as JSON. A commit is named by id, unique id prefix or name,
a VM by id, unique id prefix, name label or vers-cli alias. Exit codes: see `vmtui.cli.common`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from vmtui.cli.common import (
    add_output,
    extra,
    find_commit,
    find_vm,
    for_each,
    print_json,
    require,
    runner,
    table,
    when,
)
from vmtui.core.errors import BadRequest
from vmtui.core.models import Commit
from vmtui.core.text import one_line
from vmtui.providers.base import CommitTagsApi, Provider


def register(subparsers: argparse._SubParsersAction) -> None:
    commit = subparsers.add_parser("commit", help="create, list, delete, publish or unpublish commits")
    verbs = commit.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = add_output(verbs.add_parser("create", help="snapshot a VM into a new commit"))
    create.add_argument("vm", metavar="VM", help="VM id, unique prefix, name or vers-cli alias")
    create.add_argument("-n", "--name", help="the commit's name")
    create.add_argument("-d", "--description", help="what the commit holds")
    create.add_argument("--keep-paused", action="store_true", help="leave the VM paused afterwards")
    create.set_defaults(func=runner(_commit_create))
    listing = add_output(verbs.add_parser("list", help="every commit of the profile"))
    listing.set_defaults(func=runner(_commit_list))
    delete = add_output(verbs.add_parser("delete", help="delete commits (refused while VMs use one)"))
    delete.add_argument("commits", nargs="+", metavar="COMMIT", help="commit id, unique prefix or name")
    delete.set_defaults(func=runner(_commit_delete))
    for verb, public in (("publish", True), ("unpublish", False)):
        what = "make commits public" if public else "make public commits private again"
        parser = add_output(verbs.add_parser(verb, help=what))
        parser.add_argument("commits", nargs="+", metavar="COMMIT", help="commit id, unique prefix or name")
        parser.set_defaults(func=runner(_commit_publish), public=public)
    history = add_output(verbs.add_parser("history", help="a commit and its ancestors, newest first"))
    history.add_argument("commit", metavar="COMMIT", help="commit id, unique prefix or name")
    history.set_defaults(func=runner(_commit_history))

    tag = subparsers.add_parser("tag", help="list, create, move or delete commit tags")
    verbs = tag.add_subparsers(dest="verb", metavar="VERB", required=True)
    add_output(verbs.add_parser("list", help="every commit tag")).set_defaults(func=runner(_tag_list))
    create = add_output(verbs.add_parser("create", help="name a commit"))
    create.add_argument("name", metavar="TAG")
    create.add_argument("commit", metavar="COMMIT", help="commit id, unique prefix or name")
    create.add_argument("-d", "--description", default="", help="what the tag stands for")
    create.set_defaults(func=runner(_tag_create))
    move = add_output(verbs.add_parser("move", aliases=["update"], help="point a tag at another commit"))
    move.add_argument("name", metavar="TAG")
    move.add_argument("commit", metavar="COMMIT", nargs="?", help="commit id, unique prefix or name")
    move.add_argument(
        "--commit", dest="commit_flag", metavar="COMMIT", help="the same, as vers-cli writes it"
    )
    move.set_defaults(func=runner(_tag_move))
    delete = add_output(verbs.add_parser("delete", help="delete tags (their commits stay)"))
    delete.add_argument("names", nargs="+", metavar="TAG")
    delete.set_defaults(func=runner(_tag_delete))


# ---------------------------------------------------------------------------- commits


async def _commit_create(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, "can_commit", "committing VMs")
    vm = await find_vm(provider, args.vm)
    commit_id = await provider.commit(
        vm.id, name=args.name, description=args.description, keep_paused=args.keep_paused
    )
    if args.json:
        print(json.dumps({"commit_id": commit_id, "vm_id": vm.id}))
    else:
        print(commit_id if args.quiet else f"committed {vm.id} as {commit_id}")


async def _commit_list(provider: Provider, args: argparse.Namespace) -> None:
    _print_commits(await provider.list_commits(), args)


async def _commit_history(provider: Provider, args: argparse.Namespace) -> None:
    commit = await find_commit(provider, args.commit)
    _print_commits(await provider.commit_parents(commit.id), args)


async def _commit_delete(provider: Provider, args: argparse.Namespace) -> None:
    commits = [await find_commit(provider, ref) for ref in args.commits]
    await for_each([c.id for c in commits], provider.delete_commit, "deleted", "commit", args)


async def _commit_publish(provider: Provider, args: argparse.Namespace) -> None:
    changed: list[Commit] = []
    for ref in args.commits:
        commit = await find_commit(provider, ref)
        changed.append(await provider.update_commit(commit.id, is_public=args.public))
        if not args.json:
            verb = "published" if args.public else "unpublished"
            print(commit.id if args.quiet else f"{verb} commit {commit.id}")
    if args.json:
        print_json(changed)


def _print_commits(commits: Sequence[Commit], args: argparse.Namespace) -> None:
    if args.json:
        print_json(list(commits))
    elif args.quiet:
        for commit in commits:
            print(commit.id)
    else:
        rows = [
            (
                c.id,
                one_line(c.name or "", 40),
                when(c.created_at),
                "yes" if c.is_public else "no",
                c.parent_vm_id or "-",
            )
            for c in commits
        ]
        table(("COMMIT ID", "NAME", "CREATED", "PUBLIC", "PARENT VM"), rows)


# ---------------------------------------------------------------------------- tags


def _tags(provider: Provider) -> CommitTagsApi:
    return extra(provider, CommitTagsApi, "has_tags", "commit tags")


async def _tag_list(provider: Provider, args: argparse.Namespace) -> None:
    tags = sorted(await _tags(provider).list_tags(), key=lambda tag: tag.name)
    if args.json:
        print_json(tags)
    elif args.quiet:
        for tag in tags:
            print(tag.name)
    else:
        rows = [
            (t.name, t.commit_id, when(t.updated_at or t.created_at), one_line(t.description or "", 60))
            for t in tags
        ]
        table(("TAG", "COMMIT ID", "UPDATED", "DESCRIPTION"), rows)


async def _tag_create(provider: Provider, args: argparse.Namespace) -> None:
    tags = _tags(provider)
    commit = await find_commit(provider, args.commit)
    await tags.create_tag(args.name, commit.id, args.description or None)
    _report_tag(args, "tagged", args.name, commit.id)


async def _tag_move(provider: Provider, args: argparse.Namespace) -> None:
    ref = args.commit_flag or args.commit
    if not ref:
        raise BadRequest("name the commit to move the tag to: vmtui tag move TAG COMMIT")
    tags = _tags(provider)
    commit = await find_commit(provider, ref)
    await tags.move_tag(args.name, commit.id)
    _report_tag(args, "moved", args.name, commit.id)


async def _tag_delete(provider: Provider, args: argparse.Namespace) -> None:
    await for_each(args.names, _tags(provider).delete_tag, "deleted", "tag", args)


def _report_tag(args: argparse.Namespace, verb: str, name: str, commit_id: str) -> None:
    if args.json:
        print(json.dumps({"tag_name": name, "commit_id": commit_id}))
    else:
        print(name if args.quiet else f"{verb} {commit_id} as {name}")
