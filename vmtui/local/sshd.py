"""The engine's SSH-over-TLS gateway: one TLS listener whose SNI (`<vm_id>.vm.<domain>`) picks the VM.

Like the real platform, a client opens TLS to the listener naming the VM in SNI, then speaks SSH as
`root` with that VM's private key. TLS is terminated here and asyncssh runs directly on the TLS
transport (asyncssh's `tunnel=` hook for listeners), so the SNI seen during the handshake stays bound
to the SSH connection it carries.

Every session runs INSIDE the addressed VM (through `Sandbox.enter_argv`): interactive shells on a
real PTY allocated from the VM's own devpts (size and every window-change honoured), `exec` with exit
status and separate stderr, SFTP served by an `sftp-server` entered into the VM like a shell
(`Sandbox.sftp_argv`: every namespace, the cgroup, the VM's ids, its capability set and seccomp
filter; paths resolve inside the VM and pausing the VM freezes it too), and `direct-tcpip`
forwarding opened inside the VM's network namespace. The gateway itself only relays bytes. One Ed25519 host key per engine (`<state_dir>/ssh_host_ed25519_key`, 0600).

Refusals carry a reason the client can show: an unknown server name, a deleted or paused VM end the
connection with that text as the disconnect reason; a wrong key is refused with an auth banner.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import re
import signal
import ssl
import struct
import termios
from pathlib import Path
from typing import Any, Protocol

import asyncssh

from vmtui.core.errors import ProviderError
from vmtui.local.sandbox import SandboxError
from vmtui.local.tls import EngineTls
from vmtui.paths import write_private

log = logging.getLogger(__name__)

SSH_USER = "root"
HOST_KEY_FILE = "ssh_host_ed25519_key"
READ_CHUNK = 64 * 1024
DRAIN_AFTER_EXIT = 1.0
"""After the process exited, stop relaying once no output was read for this long while the client kept up
(a background job holding the pty open); output queued for a slow client is always relayed."""

ACCEPTED_ENV = frozenset({"LANG", "COLORTERM"})
"""Client variables a session takes (plus LC_*); everything else the VM's own environment decides."""
INPUT_HIGH_WATER = 1024 * 1024
"""Bytes of client input queued for a process or TCP peer before the channel stops reading."""

_VM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

# Runs the VM's bash when it has one, else its /bin/sh, with the arguments that follow.
_SHELL_SCRIPT = 'if [ -x /bin/bash ]; then exec /bin/bash "$@"; fi; exec /bin/sh "$@"'


class VmSandbox(Protocol):
    """What the gateway needs from one running VM (implemented by `vmtui.local.sandbox.Sandbox`)."""

    init_pid: int

    @property
    def paused(self) -> bool: ...

    def enter_argv(
        self, argv: list[str], *, env: dict[str, str] | None = None, cwd: str = "/root"
    ) -> list[str]:
        """argv running `argv` inside the VM. When its stdin is a tty, the command must make it its
        controlling terminal (setsid + TIOCSCTTY), so job control and ctrl-C work."""
        ...

    def sftp_argv(self) -> list[str]:
        """argv serving SFTP on stdin/stdout inside the VM."""
        ...

    async def open_tcp(
        self, port: int, host: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


class GatewayBackend(Protocol):
    """What the gateway needs from the engine. Both raise `ProviderError` (NotFound, Conflict...) or
    `LookupError`, with a message fit for users, when the VM is unknown, deleted or not running."""

    async def sandbox_for(self, vm_id: str) -> VmSandbox: ...

    def ssh_public_key(self, vm_id: str) -> str:
        """The VM's authorized public key in OpenSSH format."""
        ...


class GatewayRefusal(Exception):
    """The addressed VM cannot take SSH connections now; the message says why."""


def _user_reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, ProviderError) else str(exc)


async def _resolve_sandbox(backend: GatewayBackend, vm_id: str) -> VmSandbox:
    try:
        sandbox = await backend.sandbox_for(vm_id)
    except (ProviderError, LookupError) as exc:  # the engine's own errors carry the user-facing reason
        raise GatewayRefusal(f"VM {vm_id}: {_user_reason(exc)}") from None
    if sandbox.paused:
        raise GatewayRefusal(f"VM {vm_id} is paused; resume it before connecting")
    return sandbox


def _load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """One Ed25519 host key per engine, kept 0600 so it survives restarts (clients pin it)."""
    if path.exists():
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519")
    write_private(path, key.export_private_key())
    return key


TIOCSPTLCK = 0x40045431  # <asm-generic/ioctls.h>: _IOW('T', 0x31, int)
TIOCGPTPEER = 0x5441  # Linux >= 4.13: open the slave of a master without a path lookup
PTMX_MAJOR = 5


def _open_pty(init_pid: int) -> tuple[int, int]:
    """A pty pair from the VM's own devpts instance, so programs inside see `/dev/pts/N` as their
    terminal; a host pty when the VM has none. The path is walked without following symlinks, so a
    VM cannot point the daemon at a host file."""
    fd = -1
    try:
        fd = os.open(f"/proc/{init_pid}/root", os.O_PATH | os.O_DIRECTORY)
        for part in ("dev", "pts"):
            next_fd = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        master = os.open("ptmx", os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return os.openpty()
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        if os.major(os.fstat(master).st_rdev) != PTMX_MAJOR:
            raise OSError("not a pty multiplexer")
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        os.close(master)
        return os.openpty()
    return master, slave


def _write_input(chan: asyncssh.SSHChannel[bytes] | None, writer: asyncio.StreamWriter, data: bytes) -> None:
    """Forward client input; when the receiver lags, stop reading the channel (the SSH window then
    throttles the client) until the queue has drained."""
    if writer.is_closing():
        return
    writer.write(data)
    if chan is not None and writer.transport.get_write_buffer_size() > INPUT_HIGH_WATER:
        chan.pause_reading()
        asyncio.ensure_future(_resume_after_drain(chan, writer))


async def _resume_after_drain(chan: asyncssh.SSHChannel[bytes], writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except ConnectionError:
        pass  # the receiver is gone; the session ends on its own
    chan.resume_reading()


def _set_winsize(fd: int, cols: int, rows: int, pixwidth: int = 0, pixheight: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, pixwidth, pixheight))


class _VmSession(asyncssh.SSHServerSession):
    """One SSH session channel: a shell, a command or the SFTP subsystem, run inside one VM."""

    def __init__(self, backend: GatewayBackend, vm_id: str):
        self._backend = backend
        self._vm_id = vm_id
        self._chan: asyncssh.SSHServerChannel | None = None
        self._term: str | None = None
        self._size = (80, 24, 0, 0)
        self._command: str | None = None
        self._sftp = False
        self._env: dict[str, str] = {}
        self._pty_master: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stdin: asyncio.StreamWriter | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._early_input: list[bytes] = []
        """Input that arrived while the process was still starting."""
        self._eof = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._last_output = 0.0
        """Event-loop time the last output was read (the drain after exit stops once it is old)."""
        self._task: asyncio.Task[None] | None = None

    # asyncssh callbacks -------------------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:  # type: ignore[override]
        self._chan = chan
        for name, value in (chan.get_environment() or {}).items():
            if name in ACCEPTED_ENV or name.startswith("LC_"):  # like OpenSSH's AcceptEnv
                self._env[name] = value

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any) -> bool:
        self._term = term_type or "xterm"
        if term_size[0] and term_size[1]:
            self._size = term_size
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self._sftp = subsystem == "sftp"
        return self._sftp

    def session_started(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:  # type: ignore[override]
        if self._stdin is None:
            self._early_input.append(data)
        else:
            _write_input(self._chan, self._stdin, data)

    def eof_received(self) -> bool:
        self._eof = True
        if self._stdin is not None:
            self._forward_eof()
        return True  # keep our half open: output may still follow

    def _forward_eof(self) -> None:
        """EOF closes a command's stdin; on a PTY it means nothing (the user types ctrl-D)."""
        assert self._stdin is not None
        if self._pty_master is None and self._stdin.can_write_eof():
            self._stdin.write_eof()

    def _attach_stdin(self, stdin: asyncio.StreamWriter) -> None:
        self._stdin = stdin
        for data in self._early_input:
            stdin.write(data)
        self._early_input.clear()
        if self._eof:
            self._forward_eof()

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self._size = (width, height, pixwidth, pixheight)
        if self._pty_master is not None and width and height:
            _set_winsize(self._pty_master, width, height, pixwidth, pixheight)

    def signal_received(self, signal_name: str) -> None:
        signum = getattr(signal, f"SIG{signal_name}", None)
        if self._proc is not None and self._proc.returncode is None and signum is not None:
            try:
                os.killpg(self._proc.pid, signum)
            except ProcessLookupError:
                pass

    def break_received(self, msec: int) -> bool:
        if self._stdin is not None and self._pty_master is not None:
            self._stdin.write(b"\x03")
        return True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._chan = None
        self._writable.set()
        if self._proc is not None and self._proc.returncode is None:
            try:
                os.killpg(self._proc.pid, signal.SIGHUP if self._pty_master is not None else signal.SIGTERM)
            except ProcessLookupError:
                pass

    # the work -----------------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        if self._sftp:
            return self._sandbox.sftp_argv()
        args = ["-l"] if self._command is None else ["-c", self._command]
        env = dict(self._env)
        if self._term:
            env["TERM"] = self._term
        return self._sandbox.enter_argv(["/bin/sh", "-c", _SHELL_SCRIPT, "sh", *args], env=env)

    async def _run(self) -> None:
        try:
            self._sandbox = await _resolve_sandbox(self._backend, self._vm_id)
            if self._term is not None and not self._sftp:
                outputs = await self._spawn_on_pty()
            else:
                outputs = await self._spawn_on_pipes()
        except (GatewayRefusal, OSError) as exc:
            if self._chan is not None:
                self._chan.write_stderr(f"vmtui: cannot start session: {exc}\r\n".encode())
                self._chan.exit(255)
            return
        assert self._proc is not None
        pumps = [asyncio.ensure_future(self._pump(reader, stderr)) for reader, stderr in outputs]
        status = await self._proc.wait()  # the parent owns the fds, so this returns at exit, not at EOF
        await self._drain(pumps)
        self._close_streams()
        if self._chan is None:
            return
        if status < 0:
            self._chan.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))
        else:
            self._chan.exit(status)

    async def _spawn(self, stdin: int, stdout: int, stderr: int) -> None:
        """Start the session's command on these fds (closed here afterwards, the child has them).

        Plain fds rather than asyncio's PIPE: `Process.wait()` would otherwise also wait for the
        output pipes to close, which a background job (`cmd &`) can keep open for ever."""
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv(),
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                env={"PATH": os.defpath},  # nothing of the daemon's environment
                start_new_session=True,  # no controlling tty yet: the command in the VM claims a pty
            )
        finally:
            for fd in {stdin, stdout, stderr}:
                os.close(fd)

    async def _spawn_on_pipes(self) -> list[tuple[asyncio.StreamReader, bool]]:
        in_read, in_write = os.pipe2(os.O_CLOEXEC)
        out_read, out_write = os.pipe2(os.O_CLOEXEC)
        err_read, err_write = os.pipe2(os.O_CLOEXEC)
        await self._spawn(in_read, out_write, err_write)
        self._attach_stdin(await self._open_writer(in_write))
        return [(await self._open_reader(out_read), False), (await self._open_reader(err_read), True)]

    async def _spawn_on_pty(self) -> list[tuple[asyncio.StreamReader, bool]]:
        master, slave = _open_pty(self._sandbox.init_pid)
        self._pty_master = master
        cols, rows, pixwidth, pixheight = self._size
        _set_winsize(master, cols, rows, pixwidth, pixheight)
        await self._spawn(slave, slave, slave)
        self._attach_stdin(await self._open_writer(os.dup(master)))
        return [(await self._open_reader(master), False)]

    async def _open_reader(self, fd: int) -> asyncio.StreamReader:
        reader = asyncio.StreamReader(limit=READ_CHUNK * 4)
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: _OutputProtocol(reader), os.fdopen(fd, "rb", 0)
        )
        self._transports.append(transport)
        return reader

    async def _open_writer(self, fd: int) -> asyncio.StreamWriter:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", 0)
        )
        self._transports.append(transport)
        return asyncio.StreamWriter(transport, protocol, None, loop)

    async def _drain(self, pumps: list[asyncio.Future[None]]) -> None:
        """Relay what the exited process left until EOF, or until output stopped while the client kept up."""
        loop = asyncio.get_running_loop()
        pending = set(pumps)
        while pending:
            _done, pending = await asyncio.wait(pending, timeout=DRAIN_AFTER_EXIT)
            quiet = loop.time() - self._last_output >= DRAIN_AFTER_EXIT
            if pending and quiet and self._writable.is_set():
                break
        for task in pending:
            task.cancel()

    async def _pump(self, reader: asyncio.StreamReader, stderr: bool) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await reader.read(READ_CHUNK)
            except OSError:  # EIO from a pty master once every slave fd is closed
                return
            if not data or self._chan is None:
                return
            self._last_output = loop.time()
            if stderr:
                self._chan.write_stderr(data)
            else:
                self._chan.write(data)
            await self._writable.wait()

    def _close_streams(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        self._pty_master = None


class _OutputProtocol(asyncio.StreamReaderProtocol):
    """Reads a session's output. EIO from a pty master (every slave fd closed) is its end of output: as an
    error, `StreamReader.read` would raise it before returning what is still buffered, losing the end."""

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(None if isinstance(exc, OSError) and exc.errno == errno.EIO else exc)


class _TcpRelay(asyncssh.SSHTCPSession):
    """A `direct-tcpip` channel relayed to a TCP connection made inside the VM's network namespace."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._chan: asyncssh.SSHTCPChannel | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, chan: asyncssh.SSHTCPChannel) -> None:  # type: ignore[override]
        self._chan = chan

    def session_started(self) -> None:
        self._task = asyncio.ensure_future(self._pump())

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:  # type: ignore[override]
        _write_input(self._chan, self._writer, data)

    def eof_received(self) -> bool:
        if self._writer.can_write_eof():
            self._writer.write_eof()
        return True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._chan = None
        self._writable.set()
        self._writer.close()

    async def _pump(self) -> None:
        try:
            while data := await self._reader.read(READ_CHUNK):
                if self._chan is None:
                    return
                self._chan.write(data)
                await self._writable.wait()
        except OSError:
            pass
        if self._chan is not None:
            self._chan.write_eof()
            self._chan.close()


class _VmSshServer(asyncssh.SSHServer):
    """Per-connection policy: the VM is the one named by the TLS SNI; only its key, as root, gets in."""

    def __init__(self, backend: GatewayBackend, vm_suffix: str):
        self._backend = backend
        self._vm_suffix = vm_suffix
        self._conn: asyncssh.SSHServerConnection | None = None
        self._vm_id: str | None = None
        self._refusal: str | None = None
        self._authorized: asyncssh.SSHKey | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        ssl_object = conn.get_extra_info("ssl_object")
        server_name = getattr(ssl_object, "vmtui_server_name", None)
        vm_id = (
            server_name[: -len(self._vm_suffix)]
            if server_name and server_name.endswith(self._vm_suffix)
            else None
        )
        if vm_id and _VM_ID.match(vm_id):
            self._vm_id = vm_id
        elif server_name:
            self._refusal = f"unknown server name {server_name!r}: expected <vm_id>{self._vm_suffix}"
        else:
            self._refusal = f"no TLS server name (SNI) given: connect with SNI <vm_id>{self._vm_suffix}"

    async def begin_auth(self, username: str) -> bool:
        if self._refusal is None and self._vm_id is not None:
            try:
                await _resolve_sandbox(self._backend, self._vm_id)
                self._authorized = asyncssh.import_public_key(self._backend.ssh_public_key(self._vm_id))
            except GatewayRefusal as exc:
                self._refusal = str(exc)
            except (ProviderError, LookupError, asyncssh.KeyImportError) as exc:
                self._refusal = f"VM {self._vm_id}: {_user_reason(exc)}"
        if self._refusal is not None:
            log.info("ssh gateway refused a connection: %s", self._refusal)
            raise asyncssh.DisconnectError(asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT, self._refusal)
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        assert self._authorized is not None and self._conn is not None
        if username == SSH_USER and key.public_data == self._authorized.public_data:
            return True
        reason = (
            f"only user {SSH_USER} may log in"
            if username != SSH_USER
            else f"this key is not VM {self._vm_id}'s key"
        )
        self._conn.send_auth_banner(f"vmtui: {reason}\n")
        return False

    def session_requested(self) -> asyncssh.SSHServerSession:
        assert self._vm_id is not None
        return _VmSession(self._backend, self._vm_id)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> Any:
        assert self._vm_id is not None
        host = "127.0.0.1" if dest_host in ("", "localhost") else dest_host  # a VM has no resolver of its own
        return self._open_tcp(self._vm_id, host, dest_port)

    async def _open_tcp(self, vm_id: str, host: str, port: int) -> _TcpRelay:
        try:
            sandbox = await _resolve_sandbox(self._backend, vm_id)
            reader, writer = await sandbox.open_tcp(port, host)
        except GatewayRefusal as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
        except (SandboxError, OSError) as exc:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED, f"cannot reach {host}:{port} inside VM {vm_id}: {exc}"
            ) from None
        return _TcpRelay(reader, writer)


def _remember_server_name(ssl_object: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
    """SNI callback: keep the requested name on the TLS object; the SSH layer reads it from there."""
    ssl_object.vmtui_server_name = server_name.lower() if server_name else None  # type: ignore[attr-defined]


class _TlsListener:
    """asyncssh `tunnel=` hook for `listen`: accept connections over TLS instead of plain TCP."""

    def __init__(self, context: ssl.SSLContext):
        self._context = context

    async def create_server(self, session_factory: Any, host: str, port: int) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: session_factory("", 0), host, port, ssl=self._context, ssl_handshake_timeout=30
        )


class Gateway:
    """The running SSH-over-TLS listener of one engine."""

    def __init__(self, backend: GatewayBackend, state_dir: Path, domain: str = "localhost"):
        self._backend = backend
        self.tls = EngineTls(state_dir, domain)
        self._host_key_path = state_dir / HOST_KEY_FILE
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def ca_path(self) -> Path:
        return self.tls.ca_path

    @property
    def vm_suffix(self) -> str:
        return f".vm.{self.tls.domain}"

    def server_name(self, vm_id: str) -> str:
        return f"{vm_id}{self.vm_suffix}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Gateway:
        self.tls.ensure()
        context = self.tls.server_context()
        context.sni_callback = _remember_server_name
        host_key = _load_or_create_host_key(self._host_key_path)
        self._acceptor = await asyncssh.listen(
            host,
            port,
            tunnel=_TlsListener(context),
            server_factory=lambda: _VmSshServer(self._backend, self.vm_suffix),
            server_host_keys=[host_key],
            line_editor=False,
            encoding=None,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=30,
            keepalive_interval=30,
            keepalive_count_max=4,
            config=None,
        )
        self.host = host
        self.port = self._acceptor.get_port()
        log.info("ssh gateway listening on %s:%d (TLS, SNI <vm_id>%s)", host, self.port, self.vm_suffix)
        return self

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None


async def start_gateway(
    engine: GatewayBackend, state_dir: Path, host: str = "127.0.0.1", port: int = 0, domain: str = "localhost"
) -> Gateway:
    """Start the gateway for `engine` (the daemon's seam). `domain` is the base: VMs are `<id>.vm.<domain>`."""
    return await Gateway(engine, state_dir, domain).start(host, port)
