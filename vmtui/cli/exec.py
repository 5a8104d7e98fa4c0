"""`vmtui exec <vm> [-- command...]`: run a command on a VM through the API's exec (no SSH), streaming
its output; the exit status is the command's.

As in vers-cli, the words are joined and run by `sh -c` in the VM (`-t/--timeout` seconds, 0 = none);
`--json` prints one object `{"vm_id", "exit_code", "stdout", "stderr"}` once the command ends instead.
A VM is named by id, unique id prefix or label; the profile is the active one unless `--profile`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from vmtui.cli.common import find_vm, provider_for
from vmtui.config import ConfigError, load_settings
from vmtui.core.errors import ProviderError

FAILED = 255
"""Exit status when the command could not run or its end is unknown (as `ssh` does)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("exec", help="run a command on a VM through the API (no SSH), streamed")
    parser.add_argument("vm", help="VM id, unique id prefix or label")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")
    parser.add_argument("-p", "--profile", help="profile to use (default: the active one)")
    parser.add_argument(
        "-t", "--timeout", type=int, default=0, metavar="SECONDS", help="limit in the VM (default 0: none)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print {vm_id, exit_code, stdout, stderr} at the end"
    )
    parser.set_defaults(func=run_exec)


def run_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("vmtui exec: name a command: vmtui exec <vm> -- command...", file=sys.stderr)
        return 2
    if args.timeout < 0:
        print("vmtui exec: --timeout must be 0 or more seconds", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_exec(args, ["sh", "-c", " ".join(command)]))
    except (ConfigError, ProviderError) as exc:
        print(f"vmtui exec: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        return 130


async def _exec(args: argparse.Namespace, command: list[str]) -> int:
    provider = await provider_for(load_settings(), args.profile, "has_exec", "exec")
    try:
        vm = await find_vm(provider, args.vm)
        captured = {"stdout": bytearray(), "stderr": bytearray()}
        outputs = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
        exit_code: int | None = None
        async for event in provider.exec_stream(vm.id, command, timeout_secs=args.timeout or None):
            if event.kind == "chunk" and event.stream is not None:
                if args.json:
                    captured[event.stream] += event.data
                else:
                    outputs[event.stream].write(event.data)
                    outputs[event.stream].flush()
            elif event.kind == "exit":
                exit_code = event.exit_code
            else:
                raise ProviderError(f"the command failed to run: {event.code}: {event.message}")
    finally:
        await provider.aclose()
    if args.json:
        answer = {
            "vm_id": vm.id,
            "exit_code": exit_code,
            **{k: v.decode("utf-8", "replace") for k, v in captured.items()},
        }
        print(json.dumps(answer))
    return FAILED if exit_code is None else exit_code
