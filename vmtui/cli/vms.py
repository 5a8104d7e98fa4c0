"""VM commands with vers-cli's names: `status` (`ps`), `info`, `run`, `run-commit`, `branch`,
`delete` (`kill`), `pause`, `resume`, and `start`/`stop` where the platform powers VMs on and off.

A VM is named by id, unique id prefix, name label or vers-cli alias; a commit by id, unique prefix or
name (or a tag, for `run-commit` and `branch`). Commands over several VMs act on each in turn; the
first refusal stops them and names what was already done. Exit codes: see `vmtui.cli.common`.
"""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import SecretStr, ValidationError

from vmtui.cli.common import (
    add_output,
    confirm,
    extra,
    find_commit,
    find_vm,
    for_each,
    key_value,
    mib,
    print_ids,
    print_json,
    read_secret,
    require,
    runner,
    table,
    when,
)
from vmtui.core.errors import BadRequest, NotFound
from vmtui.core.models import Vm, VmConfig
from vmtui.core.text import one_line
from vmtui.providers.base import CommitTagsApi, DesktopsApi, Provider


def register(subparsers: argparse._SubParsersAction) -> None:
    status = add_output(subparsers.add_parser("status", aliases=["ps"], help="VMs: id, name, state, parent"))
    status.add_argument("vm", nargs="?", metavar="VM", help="only this VM")
    status.set_defaults(func=runner(_status))

    info = add_output(subparsers.add_parser("info", help="a VM's metadata: ip, sizes, lineage, labels"))
    info.add_argument("vm", metavar="VM")
    info.set_defaults(func=runner(_info))

    run = add_output(subparsers.add_parser("run", help="start a new root VM"))
    run.add_argument("--mem-size", metavar="SIZE", help="memory, MiB (or 512M, 2G)")
    run.add_argument("--vcpu-count", type=int, metavar="N", help="virtual CPUs")
    run.add_argument("--fs-size", "--fs-size-vm", dest="fs_size", metavar="SIZE", help="disk, MiB (or 4G)")
    run.add_argument("--rootfs", "--image", dest="image", metavar="IMAGE", help="root filesystem image")
    run.add_argument("--kernel", metavar="KERNEL", help="kernel name")
    run.add_argument("--name", "-N", "--vm-alias", dest="name", help="the VM's name label")
    run.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="a label (repeat)")
    run.add_argument("--wait", action="store_true", help="return once the VM has booted")
    desktop = run.add_argument_group("Swiftor desktops (the password is read from stdin)")
    desktop.add_argument("--distribution", metavar="CODE", help="e.g. kali, or ubuntu with --desktop")
    desktop.add_argument("--desktop", metavar="NAME", help="xfce, kde, mate... (ubuntu, debian, fedora)")
    desktop.add_argument("--region", default="AU", metavar="CODE", help="AU or US (default AU)")
    desktop.add_argument("--persistent", action="store_true", help="keep /config across stop and start")
    run.set_defaults(func=runner(_run))

    run_commit = add_output(subparsers.add_parser("run-commit", help="start a VM from a commit or tag"))
    run_commit.add_argument("ref", metavar="COMMIT|TAG")
    run_commit.set_defaults(func=runner(_run_commit))

    branch = add_output(subparsers.add_parser("branch", help="new VMs from a VM or a commit"))
    branch.add_argument("ref", metavar="VM|COMMIT")
    branch.add_argument("-c", "--count", type=int, default=1, metavar="N", help="how many (default 1)")
    branch.set_defaults(func=runner(_branch))

    delete = add_output(subparsers.add_parser("delete", aliases=["kill"], help="delete VMs (asks first)"))
    delete.add_argument("vms", nargs="+", metavar="VM")
    delete.add_argument(
        "-y", "--yes", "--skip-confirmation", dest="yes", action="store_true", help="do not ask"
    )
    delete.set_defaults(func=runner(_delete))

    for verb, done, capability, what in (
        ("pause", "paused", "can_pause", "pause VMs (memory kept)"),
        ("resume", "resumed", "can_pause", "resume paused VMs"),
        ("start", "started", "can_start_stop", "power VMs on"),
        ("stop", "stopped", "can_start_stop", "power VMs off"),
    ):
        parser = add_output(subparsers.add_parser(verb, help=what))
        parser.add_argument("vms", nargs="+", metavar="VM")
        parser.set_defaults(func=runner(_power), verb_name=verb, done=done, capability=capability)


async def _status(provider: Provider, args: argparse.Namespace) -> None:
    vms = (
        [await provider.get_vm((await find_vm(provider, args.vm)).id)]
        if args.vm
        else await provider.list_vms()
    )
    if args.json:
        print_json(vms)
    elif args.quiet:
        print_ids(vm.id for vm in vms)
    else:
        rows = [
            (
                vm.id,
                one_line(vm.display_name, 40),
                vm.state.value,
                vm.parent_commit_id or "-",
                when(vm.created_at),
            )
            for vm in vms
        ]
        table(("VM ID", "NAME", "STATE", "PARENT COMMIT", "CREATED"), rows)


async def _info(provider: Provider, args: argparse.Namespace) -> None:
    vm = await provider.get_vm((await find_vm(provider, args.vm)).id)
    summary = {**vm.info(), "labels": vm.labels}
    if args.json:
        print(json.dumps(summary))
    elif args.quiet:
        print(vm.id)
    else:
        for key, value in summary.items():
            if key == "labels":
                value = ", ".join(f"{k}={v}" for k, v in sorted(vm.labels.items()))
            print(f"{key + ':':16}{one_line('-' if value in (None, '') else str(value), 200)}")


async def _run(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, "can_create", "creating VMs")
    if isinstance(provider, DesktopsApi):
        vm = await _run_desktop(provider, args)
        _report_new(args, [vm.id], "created (stopped)")
        return
    labels = dict(key_value(item, "--label") for item in args.label)
    if args.name:
        labels["name"] = args.name
    try:
        config = VmConfig(
            vcpu_count=args.vcpu_count,
            mem_size_mib=mib(args.mem_size, "--mem-size") if args.mem_size else None,
            fs_size_mib=mib(args.fs_size, "--fs-size") if args.fs_size else None,
            image_name=args.image,
            kernel_name=args.kernel,
            labels=labels or None,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"invalid VM settings: {problems}") from None
    vm_id = await provider.create_vm(config, wait_boot=args.wait)
    _report_new(args, [vm_id], "started")


async def _run_desktop(provider: DesktopsApi, args: argparse.Namespace) -> Vm:
    """Swiftor's create: a label, a distribution, cpu and whole GB of RAM, the password from stdin."""
    if not args.name or not args.distribution:
        raise BadRequest("a Swiftor VM needs --name and --distribution (the password comes from stdin)")
    ram_mib = mib(args.mem_size, "--mem-size") if args.mem_size else 2048
    if ram_mib % 1024:
        raise BadRequest(f"--mem-size: Swiftor gives whole GB of RAM, not {ram_mib} MiB")
    password = read_secret("password")
    if not password:
        raise BadRequest("the VM's password (read from stdin) is empty")
    return await provider.create_desktop(
        args.name,
        args.region,
        args.distribution,
        args.desktop,
        args.vcpu_count or 1,
        ram_mib // 1024,
        SecretStr(password),
        "persistent" if args.persistent else "ephemeral",
    )


async def _run_commit(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, "can_restore", "starting VMs from commits")
    try:
        commit = await find_commit(provider, args.ref)
    except NotFound:
        if not provider.capabilities.has_tags:
            raise
        tags = extra(provider, CommitTagsApi, "has_tags", "commit tags")
        try:
            vm_ids = await tags.branch_tag(args.ref)
        except NotFound:
            raise NotFound(f"no commit or tag named {args.ref!r} in profile {provider.name!r}") from None
    else:
        vm_ids = [await provider.restore(commit.id)]
    _report_new(args, vm_ids, "started")


async def _branch(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, "can_branch", "branching")
    if args.count < 1:
        raise BadRequest("--count must be 1 or more")
    try:
        vm = await find_vm(provider, args.ref)
    except NotFound:
        commit = await find_commit(provider, args.ref)
        vm_ids = await provider.branch_commit(commit.id, args.count)
    else:
        vm_ids = await provider.branch(vm.id, args.count)
    _report_new(args, vm_ids, "branched")


async def _delete(provider: Provider, args: argparse.Namespace) -> int | None:
    require(provider, "can_delete", "deleting VMs")
    vms = [await find_vm(provider, ref) for ref in args.vms]
    names = ", ".join(f"{one_line(vm.display_name, 40)} ({vm.id})" for vm in vms)
    if not args.yes and not confirm(f"Delete {names}? This cannot be undone."):
        print(f"vmtui {args.command}: nothing deleted (pass -y to delete without asking)", file=sys.stderr)
        return 1
    await for_each([vm.id for vm in vms], provider.delete_vm, "deleted", "VM", args)
    return None


async def _power(provider: Provider, args: argparse.Namespace) -> None:
    require(provider, args.capability, f"vmtui {args.verb_name}")
    vms = [await find_vm(provider, ref) for ref in args.vms]
    await for_each([vm.id for vm in vms], getattr(provider, f"{args.verb_name}_vm"), args.done, "VM", args)


def _report_new(args: argparse.Namespace, vm_ids: list[str], verb: str) -> None:
    if args.json:
        print(json.dumps({"vm_ids": vm_ids}))
    elif args.quiet:
        print_ids(vm_ids)
    else:
        for vm_id in vm_ids:
            print(f"{verb} VM {vm_id}")
