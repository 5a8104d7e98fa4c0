"""`vmtui serve`: the local engine (Vers-compatible API + SSH gateway) for one state dir."""

from __future__ import annotations

import argparse
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmtui.local.daemon import ServeOptions

BACKGROUND_TIMEOUT_S = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the local VM engine (Vers-compatible API on 127.0.0.1)",
        description="Run the local VM engine: a Vers-compatible API on 127.0.0.1 "
        "and an SSH-over-TLS gateway into its sandboxed VMs.",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where VMs, commits and the token live (default: <user data dir>/vmtui/engine)",
    )
    parser.add_argument("--port", type=int, default=0, help="API port (0 = any free port)")
    parser.add_argument("--ssh-port", type=int, default=0, help="SSH gateway port (0 = any free port)")
    parser.add_argument(
        "--listen",
        metavar="ADDR",
        default=None,
        help="address to bind instead of 127.0.0.1 (non-loopback exposes the API)",
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="detach, wait until it answers, print the ready line and exit",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=50.0,
        metavar="REQ_PER_S",
        help="requests per second per client (default 50)",
    )
    parser.add_argument("--burst", type=int, default=100, help="rate-limit burst size (default 100)")
    parser.add_argument(
        "--max-upload-mib",
        type=int,
        default=4096,
        metavar="MIB",
        help="largest rootfs tarball accepted by PUT /api/rootfs/<name> (default 4096; larger: 413)",
    )
    parser.add_argument(
        "--print-token",
        metavar="EMAIL",
        default=None,
        help="print a token for the local Swiftor API for EMAIL and exit",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vmtui import paths
    from vmtui.local.daemon import ServeError, ServeOptions, run_foreground

    state_dir = (args.state_dir or paths.engine_state_dir()).expanduser().absolute()
    if args.print_token is not None:
        return _print_token(state_dir, args.print_token)
    options = ServeOptions(
        state_dir=state_dir,
        host=args.listen or "127.0.0.1",
        port=args.port,
        ssh_port=args.ssh_port,
        listen_explicit=args.listen is not None,
        rate=args.rate_limit,
        burst=args.burst,
        max_upload_mib=args.max_upload_mib,
    )
    try:
        options.check()
        if args.background:
            return _start_background(options)
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        run_foreground(options)
    except ServeError as exc:
        print(f"vmtui serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_token(state_dir: Path, email: str) -> int:
    from vmtui.local import jwt_tokens

    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        print(jwt_tokens.issue_token(jwt_tokens.load_or_create_secret(state_dir), email))
    except ValueError as exc:
        print(f"vmtui serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _start_background(options: ServeOptions) -> int:
    """Start this command again detached (own session, logs to serve.log), wait for its ready
    line and print it. A daemon already holding the state dir is reported before forking."""
    from vmtui.local.daemon import LOG_FILE, READY_PREFIX, state_lock
    from vmtui.services.local_daemon import serve_argv

    with state_lock(options.state_dir):
        pass
    argv = serve_argv(
        options.state_dir,
        "--port",
        str(options.port),
        "--ssh-port",
        str(options.ssh_port),
        "--rate-limit",
        str(options.rate),
        "--burst",
        str(options.burst),
        "--max-upload-mib",
        str(options.max_upload_mib),
    )
    if options.listen_explicit:
        argv += ["--listen", options.host]
    log_path = options.state_dir / LOG_FILE
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log_file:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
        )
    assert child.stdout is not None
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(child.stdout.fileno(), 4096)
            buffer += chunk
            line = buffer.split(b"\n", 1)[0].decode(errors="replace")
            if b"\n" in buffer and line.startswith(READY_PREFIX):
                child.stdout.close()
                print(line, flush=True)
                return 0
            if not chunk:
                break
        elif child.poll() is not None:
            break
    if child.poll() is None:
        child.terminate()
    print(
        f"vmtui serve: the background daemon did not become ready; see {log_path}:\n" + _tail(log_path),
        file=sys.stderr,
    )
    return 1


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
