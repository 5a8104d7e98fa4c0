"""`vmtui image list|upload|delete`: the root filesystem images VMs are created from (the TUI's `i`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vmtui.cli.common import (
    add_output,
    confirm,
    for_each,
    print_ids,
    print_json,
    require,
    runner,
    table,
    when,
)
from vmtui.core.text import one_line
from vmtui.providers.base import ProgressCallback, Provider


def register(subparsers: argparse._SubParsersAction) -> None:
    image = subparsers.add_parser("image", help="list, upload or delete root filesystem images")
    verbs = image.add_subparsers(dest="verb", metavar="VERB", required=True)
    add_output(verbs.add_parser("list", help="every image")).set_defaults(func=runner(_list))
    upload = add_output(verbs.add_parser("upload", help="upload a root filesystem tarball as an image"))
    upload.add_argument("name", metavar="NAME")
    upload.add_argument("tarball", type=Path, metavar="TARBALL")
    upload.set_defaults(func=runner(_upload))
    delete = add_output(verbs.add_parser("delete", help="delete images (asks first)"))
    delete.add_argument("names", nargs="+", metavar="NAME")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask")
    delete.set_defaults(func=runner(_delete))


async def _list(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, "has_images", "images")
    images = sorted(await provider.list_images(), key=lambda image: image.name)
    if args.json:
        print_json(images)
    elif args.quiet:
        print_ids(image.name for image in images)
    else:
        rows = [(i.name, _mib(i.size_bytes), str(i.in_use), when(i.created_at)) for i in images]
        table(("IMAGE", "SIZE", "VMS", "CREATED"), rows)


async def _upload(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, "has_images", "images")
    progress = _progress(args.name) if sys.stderr.isatty() and not args.quiet else None
    await provider.upload_image(args.name, args.tarball, progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps({"uploaded": args.name}))
    else:
        print(args.name if args.quiet else f"uploaded image {args.name}")


async def _delete(provider: Provider, args: argparse.Namespace) -> int | None:
    require(provider, "has_images", "images")
    names = ", ".join(one_line(name, 60) for name in args.names)
    if not args.yes and not confirm(f"Delete image(s) {names}?"):
        print("vmtui image delete: nothing deleted (pass -y to delete without asking)", file=sys.stderr)
        return 1
    await for_each(args.names, provider.delete_image, "deleted", "image", args)
    return None


def _progress(name: str) -> ProgressCallback:
    """Progress on the terminal's stderr, rewritten in place."""
    shown = one_line(name, 60)

    def report(done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        print(f"\ruploading {shown}: {percent}% of {_mib(total)}", end="", file=sys.stderr, flush=True)

    return report


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.0f} MiB"
