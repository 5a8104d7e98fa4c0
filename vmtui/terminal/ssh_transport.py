"""Adapter from an SSH shell (`vmtui.services.ssh.SshSession` / `SshShell`) to a `TerminalTransport`.

The shell and session are described by the protocols below, so this layer does not import the services
(nor asyncssh); their errors are `ProviderError`s whose `message` is safe to show."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from vmtui.core.errors import ProviderError
from vmtui.terminal.transport import TerminalSink, TransportFactory


class SshShell(Protocol):
    """An interactive remote shell on a PTY (`vmtui.services.ssh.SshShell`)."""

    def write(self, data: bytes) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    async def read(self) -> bytes:
        """The next chunk of output; b"" once the remote side closed."""

    async def wait(self) -> int | None:
        """Wait for the shell to end; its exit status."""


class SshSession(Protocol):
    """One SSH connection to one VM (`vmtui.services.ssh.SshSession`)."""

    vm_id: str

    async def connect(self) -> object: ...

    async def open_shell(self, cols: int, rows: int) -> SshShell: ...

    async def close(self) -> None: ...


class SshTerminalTransport:
    """Pumps a shell's output into a sink; owns the SSH session and closes it when the shell ends.

    Output is parsed on the event loop, where asyncssh delivers it: a thread of its own would only add
    GIL hand-offs to asyncssh's (Python) packet handling, and measured slower (bench/RESULTS.md). The
    loop reads the next chunk only after parsing this one, so the SSH window holds a flood back."""

    def __init__(self, sink: TerminalSink, shell: SshShell, session: SshSession) -> None:
        self._sink = sink
        self._shell = shell
        self._session = session
        self._closing = False
        self._pump = asyncio.get_running_loop().create_task(self._run(), name=f"ssh-terminal-{session.vm_id}")

    def write(self, data: bytes) -> None:
        if not self._closing:
            self._shell.write(data)

    def resize(self, cols: int, rows: int) -> None:
        if not self._closing:
            self._shell.resize(cols, rows)

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._pump.cancel()

    async def _run(self) -> None:
        reason = "session ended"
        try:
            while True:
                # everything asyncssh buffered while the loop was busy, up to 64 KiB: one feed, not one per packet
                chunk = await self._shell.read()
                if not chunk:
                    break
                try:
                    self._sink.feed(chunk)
                except Exception as error:  # noqa: BLE001 - as on a PTY: the pane failed, not the connection
                    reason = f"terminal output failed: {error}"
                    return
            status = await self._shell.wait()
            reason = "shell ended" if status is None else f"shell exited with status {status}"
        except asyncio.CancelledError:
            reason = "closed"
        except ProviderError as error:
            reason = error.message
        except Exception as error:  # noqa: BLE001 - keepalive timeout and the like: the user sees why
            reason = f"connection lost: {error}"
        finally:
            self._closing = True
            with contextlib.suppress(Exception):  # a broken connection has nothing left to release
                await self._session.close()
            self._sink.closed(reason)


def ssh_transport_factory(make_session: Callable[[], SshSession]) -> TransportFactory:
    """A factory for `TerminalPane.connect` / `TerminalTabs.open_session`: every call (a reconnect too)
    connects a fresh session from `make_session()` and opens a shell of the pane's size."""

    async def open_transport(sink: TerminalSink, cols: int, rows: int) -> SshTerminalTransport:
        session = make_session()
        await session.connect()
        try:
            shell = await session.open_shell(cols, rows)
        except BaseException:
            await session.close()
            raise
        return SshTerminalTransport(sink, shell, session)

    return open_transport
