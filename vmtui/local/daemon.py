"""`vmtui serve`: run the local engine's API (and SSH gateway) for one state dir.

Lifecycle: take an exclusive lock on the state dir (a second daemon refuses, naming the first),
load or create the bearer token (0600), start the engine (adopting VMs that survived), bind the
API, start the SSH gateway, then announce readiness with one
line on stdout and `<state_dir>/endpoint.json` (0600). SIGTERM/SIGINT stop serving cleanly; VMs
keep running and are adopted by the next daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import json
import logging
import os
import resource
import secrets
import signal
import socket
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from vmtui import __version__
from vmtui.local import jwt_tokens, sshd
from vmtui.local.api.app import create_app
from vmtui.local.engine import Engine
from vmtui.paths import write_private

log = logging.getLogger("vmtui.local.daemon")

TOKEN_FILE = "token"
ENDPOINT_FILE = "endpoint.json"
LOCK_FILE = "lock"
LOG_FILE = "serve.log"
READY_PREFIX = "vmtui serve ready "
KEEP_ALIVE_S = 30


class ServeError(Exception):
    """The daemon cannot start; the message says why and what to do."""


@dataclass
class ServeOptions:
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    ssh_port: int = 0
    listen_explicit: bool = False
    """A non-loopback `host` is refused unless the user asked for it (`--listen`)."""
    rate: float = 50.0
    burst: int = 100
    domain: str = "localhost"
    max_upload_mib: int = 4096
    """Largest rootfs upload; bigger ones are answered 413 while streaming (nothing kept)."""

    def check(self) -> None:
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            raise ServeError(f"--listen needs an IP address, not {self.host!r}") from None
        if not address.is_loopback and not self.listen_explicit:
            raise ServeError(
                f"refusing to listen on {self.host}: pass --listen {self.host} to expose the API "
                "beyond this machine"
            )
        for name, port in (("--port", self.port), ("--ssh-port", self.ssh_port)):
            if not 0 <= port <= 65535:
                raise ServeError(f"{name} must be between 0 and 65535")
        if self.rate <= 0 or self.burst < 1:
            raise ServeError("the rate limit needs a positive rate and a burst of at least 1")
        if self.max_upload_mib < 1:
            raise ServeError("--max-upload-mib must be at least 1")


def load_or_create_token(state_dir: Path) -> str:
    """The API bearer token from `<state_dir>/token`, created (0600) on first start."""
    path = state_dir / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if len(token) >= 32:
            return token
        log.warning("%s is too short to be a token; making a new one", path)
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold `<state_dir>/lock` exclusively, or raise ServeError naming the daemon that does."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise ServeError(_already_running_message(state_dir, fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _already_running_message(state_dir: Path, fd: int) -> str:
    pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    endpoint = read_endpoint(state_dir)
    where = f" at {endpoint['api_url']}" if endpoint else ""
    return f"another vmtui serve (pid {pid}){where} already uses state dir {state_dir}; stop it first"


def read_endpoint(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ready_line(endpoint: dict[str, Any]) -> str:
    ssh = f"{endpoint['ssh_host']}:{endpoint['ssh_port']}" if endpoint.get("ssh_port") else "-"
    return (
        f"{READY_PREFIX}api={endpoint['api_url']} ssh={ssh} token-file={endpoint['token_file']} "
        f"ca={endpoint.get('ca_path') or '-'}"
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket. Created with IPPROTO_TCP (not protocol 0): asyncio sets TCP_NODELAY
    only on accepted sockets whose protocol says TCP, and without it every keep-alive answer waits
    ~40 ms for Nagle to meet the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _connect_host(host: str) -> str:
    """The address clients should dial (an unspecified bind address means this machine)."""
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "::1"
    return host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard one: the engine holds a pidfd per running VM
    (see sandbox.py), and a soft limit of 1024 (systemd's default) would stop it near 1,000 VMs.
    VMs inherit it, as they could raise it themselves (containers commonly run with the same)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(options: ServeOptions, out: TextIO = sys.stdout) -> None:
    """Run until SIGTERM/SIGINT. Call inside `state_lock(options.state_dir)`."""
    options.check()
    raise_open_file_limit()
    state_dir = options.state_dir
    token = load_or_create_token(state_dir)
    swiftor_secret = jwt_tokens.load_or_create_secret(state_dir)
    sock = listen_socket(options.host, options.port)
    if not ipaddress.ip_address(options.host).is_loopback:
        log.warning(
            "the API listens on %s: reachable beyond this machine (bearer token still required)", options.host
        )
    engine = Engine(state_dir, max_upload_bytes=options.max_upload_mib * 1024 * 1024)
    server: _Server | None = None
    serving: asyncio.Task[None] | None = None
    gateway = None
    endpoint_path = state_dir / ENDPOINT_FILE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await engine.start()
        except (sqlite3.Error, OSError) as exc:
            raise ServeError(f"cannot open the engine state in {state_dir}: {exc}") from exc
        app = create_app(engine, token, rate=options.rate, burst=options.burst, swiftor_secret=swiftor_secret)
        server = _Server(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="off",
                ws="wsproto",  # the WebSocket library the host proxy relays with (a declared dependency)
                timeout_graceful_shutdown=5,
                # Longer than clients keep idle connections (httpx: 5 s), so a client never reuses a
                # connection the engine is closing at that moment.
                timeout_keep_alive=KEEP_ALIVE_S,
            )
        )
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                serving.result()
                raise ServeError("the API server stopped while starting")
            await asyncio.sleep(0.01)
        gateway = await _start_gateway(engine, options)
        host = _connect_host(options.host)
        endpoint = {
            "api_url": f"http://{_url_host(host)}:{sock.getsockname()[1]}",
            "token_file": str(state_dir / TOKEN_FILE),
            "ssh_host": host,
            "ssh_port": gateway.port,
            "ca_path": str(gateway.ca_path),
            "domain": options.domain,
            "pid": os.getpid(),
            "version": __version__,
        }
        write_private(endpoint_path, json.dumps(endpoint, indent=2) + "\n")
        print(ready_line(endpoint), file=out, flush=True)
        log.info("serving state dir %s", state_dir)
        await asyncio.wait([serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping; VMs keep running and are adopted at the next start")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        engine.changes.close()  # end the event streams, or uvicorn would wait for them
        if server is not None and serving is not None:
            server.should_exit = True
            await asyncio.gather(serving, return_exceptions=True)
        if gateway is not None:
            await gateway.close()
        await engine.close()
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            endpoint_path.unlink()


async def _start_gateway(engine: Engine, options: ServeOptions) -> sshd.Gateway:
    """The SSH-over-TLS gateway into the engine's VMs."""
    try:
        gateway = await sshd.start_gateway(
            engine, options.state_dir, options.host, options.ssh_port, options.domain
        )
    except OSError as exc:
        raise ServeError(
            f"cannot start the SSH gateway on {options.host}:{options.ssh_port}: {exc.strerror or exc}"
        ) from exc
    engine.ssh_port = gateway.port
    return gateway


def run_foreground(options: ServeOptions, out: TextIO = sys.stdout) -> None:
    """Lock the state dir and serve until stopped. Raises ServeError with a clear message."""
    options.check()
    with state_lock(options.state_dir):
        asyncio.run(serve(options, out))
