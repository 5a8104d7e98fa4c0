"""`vmtui ssh <vm> [-- command...]` and `vmtui cp <src> <dst>`: SSH into VMs outside the TUI.

`vmtui ssh` without a command opens a full-screen session in the current terminal (raw mode, resized
on SIGWINCH, the terminal restored on exit); with a command it runs it and exits with its status.
`vmtui cp` copies over SFTP; the VM side is written `<vm>:<path>` (either side, not both).
A VM is named by id, unique id prefix, label or vers-cli alias (`~/.vers/aliases.json`). The profile is the active one unless `--profile`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import stat
import sys
import termios
import tty
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vmtui import paths
from vmtui.cli.common import find_vm, provider_for
from vmtui.config import ConfigError, Settings, load_settings
from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.services.known_hosts import TofuKnownHosts

if TYPE_CHECKING:
    from vmtui.services.ssh import SshSession

KNOWN_HOSTS_FILE = "known_hosts"


def register(subparsers: argparse._SubParsersAction) -> None:
    ssh = subparsers.add_parser("ssh", help="open a shell in a VM, or run a command there")
    ssh.add_argument("vm", nargs="?", help="VM id, unique id prefix or label")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --) instead of a shell")
    _common_options(ssh)
    ssh.set_defaults(func=run_ssh)

    cp = subparsers.add_parser("cp", help="copy files to or from a VM over SFTP (VM side: <vm>:<path>)")
    cp.add_argument("source")
    cp.add_argument("dest")
    _common_options(cp)
    cp.set_defaults(func=run_cp)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--profile", help="profile to use (default: the active one)")
    parser.add_argument("--resume", action="store_true", help="resume a paused VM without asking")


def run_ssh(args: argparse.Namespace) -> int:
    if args.vm is None:  # argparse would name the optional command as required too
        print("vmtui ssh: name a VM: vmtui ssh <vm> [-- command...]", file=sys.stderr)
        return 2
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and not sys.stdin.isatty():
        print("vmtui ssh: an interactive shell needs a terminal; pass a command after --", file=sys.stderr)
        return 2
    return _run(
        "ssh", args, lambda session: _remote_command(session, command) if command else _interactive(session)
    )


def run_cp(args: argparse.Namespace) -> int:
    source_vm, source = _split_remote(args.source)
    dest_vm, dest = _split_remote(args.dest)
    if (source_vm is None) == (dest_vm is None):
        print("vmtui cp: exactly one side must be a VM path, written <vm>:<path>", file=sys.stderr)
        return 2
    args.vm = source_vm or dest_vm

    async def copy(session: SshSession) -> int:
        stats = await (session.put(source, dest) if source_vm is None else session.get(source, dest))
        if stats.skipped:
            shown = ", ".join(stats.skipped[:3]) + (", …" if len(stats.skipped) > 3 else "")
            print(
                f"vmtui cp: skipped {len(stats.skipped)} special file(s) (devices, sockets, FIFOs): {shown}",
                file=sys.stderr,
            )
        return 0

    return _run("cp", args, copy)


def _split_remote(spec: str) -> tuple[str | None, str]:
    """`vm:/path` → ("vm", "/path"); a local path (including ./a:b and /x:y) → (None, path)."""
    head, sep, tail = spec.partition(":")
    if not sep or not head or "/" in head or Path(spec).exists():
        return None, spec
    return head, tail or "."


def _run(name: str, args: argparse.Namespace, work: Callable[[SshSession], Awaitable[int]]) -> int:
    """asyncssh is imported here, not at the top: every `vmtui` run (the TUI too) builds this parser."""
    import asyncssh

    try:
        settings = load_settings()
        return asyncio.run(_with_session(settings, args, work))
    except (ConfigError, ProviderError) as exc:
        print(f"vmtui {name}: {exc}", file=sys.stderr)
        return 255
    except (asyncssh.Error, OSError) as exc:  # the connection broke mid-way
        print(f"vmtui {name}: connection lost: {exc}", file=sys.stderr)
        return 255
    except KeyboardInterrupt:
        return 130


async def _with_session(
    settings: Settings, args: argparse.Namespace, work: Callable[[SshSession], Awaitable[int]]
) -> int:
    from vmtui.services.ssh import SshSession

    provider = await provider_for(settings, args.profile, "has_ssh", "SSH")
    try:
        vm = await find_vm(provider, args.vm)
        session = SshSession(
            provider,
            vm.id,
            known_hosts=TofuKnownHosts(paths.state_dir() / KNOWN_HOSTS_FILE),
            resume_paused=True if args.resume else _ask_to_resume,
            keepalive_interval=settings.ssh.keepalive_interval,
            keepalive_count_max=settings.ssh.keepalive_count_max,
        )
        async with session:
            return await work(session)
    finally:
        await provider.aclose()


async def _ask_to_resume(vm: Vm) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = await asyncio.to_thread(input, f"VM {vm.display_name} is paused. Resume it? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _remote_command(session: SshSession, command: list[str]) -> int:
    """Run `command` with this process's stdin/stdout/stderr; its exit status becomes ours."""
    result = await session.connection.run(
        " ".join(command),  # like OpenSSH: the remote shell parses the words again
        stdin=sys.stdin.buffer if _is_pipe_or_file(sys.stdin.fileno()) else None,
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
        encoding=None,
    )
    if result.exit_status is not None:
        return result.exit_status
    return 128 + signal.Signals[f"SIG{result.exit_signal[0]}"].value if result.exit_signal else 255


def _is_pipe_or_file(fd: int) -> bool:
    """Input worth forwarding to a remote command: a pipe, socket or file (not a tty, not /dev/null)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


async def _interactive(session: SshSession) -> int:
    """A full-screen shell in this terminal: raw mode, SIGWINCH → window-change, tty restored after."""
    loop = asyncio.get_running_loop()
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    cols, rows = shutil.get_terminal_size()
    sent = {
        name: value
        for name, value in os.environ.items()
        if name in ("LANG", "COLORTERM") or name.startswith("LC_")
    }
    shell = await session.open_shell(cols, rows, term=os.environ.get("TERM") or "xterm-256color", env=sent)

    def forward_input() -> None:
        data = os.read(stdin, 65536)
        if data:
            shell.write(data)
        else:
            loop.remove_reader(stdin)

    saved = termios.tcgetattr(stdin)
    tty.setraw(stdin, termios.TCSANOW)  # keep what was typed ahead
    loop.add_reader(stdin, forward_input)
    loop.add_signal_handler(signal.SIGWINCH, lambda: shell.resize(*shutil.get_terminal_size()))
    try:
        async for chunk in shell:
            view = memoryview(chunk)
            while view:
                view = view[os.write(stdout, view) :]
        status = await shell.wait()
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)
        loop.remove_reader(stdin)
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
    return 255 if status is None else status
