"""`SshSession`: SSH into one VM over TLS, the way Vers (and the local engine) expose it. No Textual.

The client opens TLS to the provider's SSH endpoint with SNI = `<vm_id>.vm.<domain>`, then speaks SSH
over that stream (asyncssh `tunnel=` object) as `root` with the VM's private key from the provider.
TLS is verified by default (the endpoint's CA file, else the system store); `insecure_tls` turns that
off for parity with the official CLI. Host keys are trusted on first use per VM and pinned
(`known_hosts.TofuKnownHosts`). The user's `~/.ssh/config` and SSH agent are never consulted.

    async with SshSession(provider, vm_id, known_hosts=TofuKnownHosts(path)) as ssh:
        shell = await ssh.open_shell(cols, rows)
        shell.write(b"ls\\n")
        async for chunk in shell: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, Self

import asyncssh

from vmtui.core.errors import ProviderError, Unsupported
from vmtui.core.models import ExecResult, SshEndpoint, SshKey, Vm, VmState
from vmtui.services.known_hosts import HostKeyChanged, TofuKnownHosts
from vmtui.services.sftp_tree import (
    CopyProgress,
    RemoteEntry,
    TreeCopyStats,
    TreeDownload,
    TreeUpload,
    UnsafeName,
    list_directory,
)

SSH_USER = "root"
READ_CHUNK = 64 * 1024
CIPHERS = [
    "aes128-gcm@openssh.com",  # measured 20-40% faster than chacha20 here (AES-NI)
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
]

ResumeDecision = bool | Callable[[Vm], Awaitable[bool]]
"""Whether a paused VM may be resumed before connecting: a flag, or an async question (the UI asks)."""


class SshProvider(Protocol):
    """What SshSession needs from a provider (every `Provider` has these)."""

    async def ssh_key(self, vm_id: str) -> SshKey: ...

    def ssh_endpoint(self, vm_id: str) -> SshEndpoint: ...

    async def get_vm(self, vm_id: str) -> Vm: ...

    async def resume_vm(self, vm_id: str) -> None: ...


class SshError(ProviderError):
    """SSH could not connect or an SSH operation failed; the message says why, for users."""


class TlsTunnel:
    """asyncssh `tunnel=` object: the SSH byte stream runs inside TLS with the VM's name as SNI."""

    def __init__(self, endpoint: SshEndpoint):
        self.endpoint = endpoint
        self.context = self._context(endpoint)

    @staticmethod
    def _context(endpoint: SshEndpoint) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=endpoint.ca_path)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if endpoint.insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def create_connection(
        self, session_factory: Callable[[], asyncio.BaseProtocol], _host: str, _port: int
    ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        loop = asyncio.get_running_loop()
        return await loop.create_connection(
            session_factory,
            self.endpoint.host,
            self.endpoint.port,
            ssl=self.context,
            server_hostname=self.endpoint.server_name,
        )


class _Client(asyncssh.SSHClient):
    """Checks the host key against the TOFU store and keeps the server's auth banners for errors."""

    def __init__(self, known_hosts: TofuKnownHosts, name: str):
        self._known_hosts = known_hosts
        self._name = name
        self.banners: list[str] = []
        self.host_key_error: HostKeyChanged | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        try:
            self._known_hosts.check(self._name, key)
        except HostKeyChanged as exc:
            self.host_key_error = exc
            return False
        return True

    def auth_banner_received(self, msg: str, lang: str) -> None:
        self.banners.append(msg.strip())


class SshShell:
    """An interactive shell on a PTY: write bytes in, iterate bytes out, resize, close."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]):
        self._process = process

    def write(self, data: bytes) -> None:
        if not self._process.stdin.is_closing():
            self._process.stdin.write(data)

    def resize(self, cols: int, rows: int) -> None:
        self._process.change_terminal_size(cols, rows)

    async def read(self) -> bytes:
        """The next chunk of output; b"" once the remote side closed. A dropped connection raises
        SshError saying so."""
        try:
            return await self._process.stdout.read(READ_CHUNK)
        except (asyncssh.Error, OSError) as exc:
            raise SshError(f"connection lost: {exc}") from exc

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    @property
    def exit_status(self) -> int | None:
        return self._process.exit_status

    async def wait(self) -> int | None:
        """Wait for the shell to end; its exit status (None if it ended without one, e.g. by a signal)."""
        await self._process.wait_closed()
        return self._process.exit_status

    def close(self) -> None:
        self._process.close()


class SshSession:
    """One SSH connection to one VM. Use `async with`, or `await connect()` and `await close()`."""

    def __init__(
        self,
        provider: SshProvider,
        vm_id: str,
        *,
        known_hosts: TofuKnownHosts,
        resume_paused: ResumeDecision = False,
        boot_timeout: float = 60.0,
        poll_interval: float = 2.0,
        connect_timeout: float = 30.0,
        keepalive_interval: int = 10,
        keepalive_count_max: int = 6,
    ):
        self.provider = provider
        self.vm_id = vm_id
        self.known_hosts = known_hosts
        self.resume_paused = resume_paused
        self.boot_timeout = boot_timeout
        self.poll_interval = poll_interval
        self.connect_timeout = connect_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_count_max = keepalive_count_max
        self._conn: asyncssh.SSHClientConnection | None = None
        self._shell: SshShell | None = None

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            raise SshError(f"not connected to VM {self.vm_id}")
        return self._conn

    async def connect(self) -> Self:
        if self._conn is not None:
            return self
        await self._wait_until_running()
        key = await self.provider.ssh_key(self.vm_id)
        endpoint = self.provider.ssh_endpoint(self.vm_id)
        try:
            client_key = asyncssh.import_private_key(key.private_key_pem)
        except (asyncssh.KeyImportError, ValueError):
            raise SshError(
                f"the SSH key the provider returned for VM {self.vm_id} is not a valid private key"
            ) from None
        client = _Client(self.known_hosts, endpoint.server_name)
        try:
            self._conn = await asyncssh.connect(
                endpoint.server_name,
                endpoint.port,
                tunnel=TlsTunnel(endpoint),
                client_factory=lambda: client,
                username=SSH_USER,
                client_keys=[client_key],
                known_hosts=lambda _h, _a, _p: ([], [], []),
                config=None,
                agent_path=None,
                encryption_algs=CIPHERS,
                connect_timeout=self.connect_timeout,
                login_timeout=self.connect_timeout,
                keepalive_interval=self.keepalive_interval,
                keepalive_count_max=self.keepalive_count_max,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise SshError(str(client.host_key_error or exc)) from None
        except asyncssh.PermissionDenied:
            why = "; ".join(client.banners) or "the server refused the VM's key"
            raise SshError(f"SSH login to VM {self.vm_id} refused: {why}") from None
        except asyncssh.DisconnectError as exc:
            raise SshError(f"SSH to VM {self.vm_id} refused: {exc.reason}") from None
        except ssl.SSLCertVerificationError as exc:
            raise SshError(
                f"TLS certificate of {endpoint.server_name} not trusted ({exc.verify_message}); "
                "check the profile's CA or use insecure_tls"
            ) from None
        except (OSError, TimeoutError) as exc:
            raise SshError(
                f"cannot reach {endpoint.host}:{endpoint.port} for VM {self.vm_id}: {exc}"
            ) from None
        return self

    async def _wait_until_running(self) -> None:
        """Resume a paused or sleeping VM if allowed, wait for a booting one, refuse the others clearly."""
        deadline = time.monotonic() + self.boot_timeout
        resumed = False
        while True:
            try:
                vm = await self.provider.get_vm(self.vm_id)
            except Unsupported:
                return  # the provider cannot tell: just try to connect
            if vm.state in (VmState.RUNNING, VmState.UNKNOWN):
                return
            if vm.state.is_paused and not resumed:
                if not await self._may_resume(vm):
                    raise SshError(f"VM {self.vm_id} is {vm.state.value}; resume it to connect")
                await self.provider.resume_vm(self.vm_id)
                resumed = True
            elif vm.state is not VmState.BOOTING and not vm.state.is_paused:
                raise SshError(f"VM {self.vm_id} is {vm.state.value}; it cannot take SSH connections")
            if time.monotonic() >= deadline:
                raise SshError(f"VM {self.vm_id} is still {vm.state.value} after {self.boot_timeout:.0f} s")
            await asyncio.sleep(self.poll_interval)

    async def _may_resume(self, vm: Vm) -> bool:
        if callable(self.resume_paused):
            return await self.resume_paused(vm)
        return self.resume_paused

    async def open_shell(
        self, cols: int, rows: int, term: str = "xterm-256color", env: dict[str, str] | None = None
    ) -> SshShell:
        """An interactive login shell on a PTY of `cols`×`rows`; bytes in, bytes out.

        `env` is offered to the server like OpenSSH's SendEnv (the local engine accepts LANG, LC_*
        and COLORTERM; other servers apply their own AcceptEnv)."""
        try:
            process = await self.connection.create_process(
                term_type=term, term_size=(cols, rows), env=env or {}, encoding=None
            )
        except asyncssh.ChannelOpenError as exc:
            raise SshError(f"cannot open a shell on VM {self.vm_id}: {exc.reason}") from None
        self._shell = SshShell(process)
        return self._shell

    def resize(self, cols: int, rows: int) -> None:
        """Resize the shell opened last (sends an SSH window-change)."""
        if self._shell is not None:
            self._shell.resize(cols, rows)

    async def exec(
        self, command: str | list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> ExecResult:
        """Run a command without a PTY; stdout and stderr stay separate. A list is shell-quoted."""
        line = command if isinstance(command, str) else shlex.join(command)
        try:
            result = await self.connection.run(line, input=stdin, encoding=None, timeout=timeout)
        except asyncssh.TimeoutError:
            raise SshError(f"command on VM {self.vm_id} did not finish within {timeout} s") from None
        except asyncssh.ChannelOpenError as exc:
            raise SshError(f"cannot run a command on VM {self.vm_id}: {exc.reason}") from None
        exit_code = result.exit_status if result.exit_status is not None else 128 + _signal_number(result)
        return ExecResult(
            exit_code=exit_code,
            stdout=_text(result.stdout),
            stderr=_text(result.stderr),
        )

    async def put(
        self, local: Path | str, remote: str, progress: CopyProgress | None = None
    ) -> TreeCopyStats:
        """Copy a local file (or directory, recursively; links stay links) to `remote` on the VM."""
        if not Path(local).exists():
            raise SshError(f"no such local file: {local}")
        async with self._sftp(f"put {local} -> {remote}") as sftp:
            try:
                return await TreeUpload(sftp, progress).run(local, remote)
            except OSError as exc:
                raise SshError(f"put {local} -> {remote}: {exc.strerror}: {exc.filename}") from None

    async def get(
        self, remote: str, local: Path | str, progress: CopyProgress | None = None
    ) -> TreeCopyStats:
        """Copy `remote` on the VM (file, link or directory tree) to a local path, as `rsync -a` would
        (links stay links, nothing is written through one; see `sftp_tree`)."""
        async with self._sftp(f"get {remote} -> {local}") as sftp:
            try:
                return await TreeDownload(sftp, progress).run(remote, local)
            except UnsafeName as exc:
                raise SshError(str(exc)) from None
            except OSError as exc:
                raise SshError(f"get {remote} -> {local}: {exc.strerror}: {exc.filename}") from None

    async def list_directory(self, path: str) -> tuple[str, list[RemoteEntry]]:
        """The absolute form of `path` on the VM (`.` is the login directory) and its entries."""
        async with self._sftp(f"list {path}") as sftp:
            absolute = await sftp.realpath(path)
            assert isinstance(absolute, str)  # a str path resolves to str
            return absolute, await list_directory(sftp, absolute)

    @contextlib.asynccontextmanager
    async def _sftp(self, what: str) -> AsyncIterator[asyncssh.SFTPClient]:
        try:
            async with self.connection.start_sftp_client() as sftp:
                yield sftp
        except asyncssh.SFTPError as exc:
            raise SshError(f"{what} on VM {self.vm_id} failed: {exc.reason}") from None
        except asyncssh.ChannelOpenError as exc:
            raise SshError(f"cannot start SFTP on VM {self.vm_id}: {exc.reason}") from None

    async def forward_local(
        self,
        local_port: int,
        remote_port: int,
        *,
        remote_host: str = "127.0.0.1",
        local_host: str = "127.0.0.1",
    ) -> asyncssh.SSHListener:
        """Listen on `local_host:local_port` (0 = any free port, see `.get_port()`) and tunnel every
        connection to `remote_host:remote_port` as seen from inside the VM. Close the listener to stop."""
        try:
            return await self.connection.forward_local_port(local_host, local_port, remote_host, remote_port)
        except OSError as exc:
            raise SshError(f"cannot listen on {local_host}:{local_port}: {exc}") from None

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()
            self._conn = None
            self._shell = None


def _text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


def _signal_number(result: asyncssh.SSHCompletedProcess) -> int:
    name = (result.exit_signal or ("", False, "", ""))[0]
    return getattr(signal, f"SIG{name}", signal.SIGTERM).value if name else 0
