"""`vmtui label VM [set|replace|remove ...]` and `vmtui resize VM --fs-size SIZE`: a VM changed after
it was created.

`label VM` lists the labels; `set k=v ...` adds or overwrites some, `replace k=v ...` makes them exactly
these (none: clears them), `remove k ...` deletes some. Each change prints the labels it left. The
`name` label is the VM's display name. `resize` only grows the disk; the server's refusal is printed.
"""

from __future__ import annotations

import argparse
import json

from vmtui.cli.common import add_output, extra, find_vm, key_value, mib, print_ids, runner, table
from vmtui.core.errors import BadRequest
from vmtui.providers.base import DiskApi, LabelsApi, Provider


def register(subparsers: argparse._SubParsersAction) -> None:
    label = add_output(subparsers.add_parser("label", help="list, set, replace or remove a VM's labels"))
    label.add_argument("vm", metavar="VM")
    label.add_argument("change", nargs="?", choices=("set", "replace", "remove"), help="what to change")
    label.add_argument("items", nargs="*", metavar="KEY=VALUE|KEY", help="labels to set, or keys to remove")
    label.set_defaults(func=runner(_label))

    resize = add_output(subparsers.add_parser("resize", help="grow a VM's disk"))
    resize.add_argument("vm", metavar="VM")
    resize.add_argument(
        "--fs-size", "--size", dest="fs_size", required=True, metavar="SIZE", help="MiB or 4G"
    )
    resize.set_defaults(func=runner(_resize))


async def _label(provider: Provider, args: argparse.Namespace) -> None:
    vm = await find_vm(provider, args.vm)
    if args.change is None and args.items:
        raise BadRequest("say what to do with them: vmtui label VM set|replace|remove ...")
    if args.change is not None:
        labels = extra(provider, LabelsApi, "has_labels", "editing labels")
        if args.change == "remove":
            if not args.items:
                raise BadRequest("name the labels to remove: vmtui label VM remove KEY ...")
            for key in args.items:
                await labels.delete_label(vm.id, key)
        else:
            pairs = dict(key_value(item, args.change) for item in args.items)
            if args.change == "set" and not pairs:
                raise BadRequest("give the labels to set: vmtui label VM set KEY=VALUE ...")
            await (labels.upsert_labels if args.change == "set" else labels.replace_labels)(vm.id, pairs)
        vm = await provider.get_vm(vm.id)
    if args.json:
        print(json.dumps(vm.labels))
    elif args.quiet:
        print_ids(sorted(vm.labels))
    else:
        table(("KEY", "VALUE"), sorted(vm.labels.items()))


async def _resize(provider: Provider, args: argparse.Namespace) -> None:
    disk = extra(provider, DiskApi, "can_resize", "resizing disks")
    size = mib(args.fs_size, "--fs-size")
    vm = await find_vm(provider, args.vm)
    await disk.resize_disk(vm.id, size)
    if args.json:
        print(json.dumps({"vm_id": vm.id, "fs_size_mib": size}))
    else:
        print(vm.id if args.quiet else f"resized the disk of {vm.id} to {size} MiB")
