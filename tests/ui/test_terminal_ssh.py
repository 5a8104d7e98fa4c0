"""TerminalTabs over real SSH-over-TLS: the local engine's gateway on loopback, `SshSession`, our adapter.

The gateway's backend runs shells as host processes (the SSH service's own test stand-in for a VM sandbox),
so this exercises TLS with SNI, SSH auth, the PTY, window-change and the widget end to end.
"""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult
from textual.containers import Container

from tests.ui.test_terminal_pty import shows, type_line, wait_for
from tests.unit.test_ssh_client import VM_ID, FakeProvider, backend, gateway, known_hosts  # noqa: F401 (fixtures)
from vmtui.core.models import VmState
from vmtui.services.ssh import SshSession
from vmtui.terminal.remote_emulator import ParserGone
from vmtui.terminal.ssh_transport import ssh_transport_factory
from vmtui.ui.widgets.terminal_tabs import TerminalSession, TerminalTabs

pytestmark = pytest.mark.timeout(90)


class SshApp(App):
    def compose(self) -> ComposeResult:
        yield Container(TerminalTabs(), id="terminal-area")

    @property
    def pane(self):  # what the shared wait helpers look at
        return self.query_one(TerminalTabs).active_session.pane


async def test_shell_over_ssh_tls_echo_ctrl_c_resize_and_exit(gateway, backend, known_hosts) -> None:  # noqa: F811
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    factory = ssh_transport_factory(lambda: SshSession(provider, VM_ID, known_hosts=known_hosts))
    app = SshApp()
    async with app.run_test(size=(90, 30)) as pilot:
        await pilot.pause()
        pane = await app.query_one(TerminalTabs).open_session(VM_ID[:8], factory)
        await wait_for(pilot, lambda: pane.transport is not None)
        await type_line(pilot, "stty size; echo ssh-$((40+2))")
        await wait_for(pilot, shows(pilot, "ssh-42"))
        assert shows(pilot, f"{pane.size.height} {pane.size.width}")()
        # The marker is printed by the foreground job itself: ctrl-C from then on interrupts it.
        await type_line(pilot, "sh -c 'echo go-$((1+1)); exec sleep 3600'")
        await wait_for(pilot, shows(pilot, "go-2"))
        await pilot.press("ctrl+c")
        await type_line(pilot, "echo status=$?")
        await wait_for(pilot, shows(pilot, "status=130"))
        await pilot.resize_terminal(100, 35)
        await wait_for(
            pilot,
            lambda: pane.emulator.size == (pane.size.width, pane.size.height) and pane.size.width == 100,
        )
        await type_line(pilot, "stty size")
        await wait_for(pilot, shows(pilot, f"{pane.size.height} 100"))
        await type_line(pilot, "exit 4")
        await wait_for(pilot, lambda: app.query_one(TerminalSession).ended)
        assert pane.closed_reason == "shell exited with status 4"


async def test_flood_over_ssh_is_shown_to_the_end_and_stays_responsive(gateway, backend, known_hosts) -> None:  # noqa: F811
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    factory = ssh_transport_factory(lambda: SshSession(provider, VM_ID, known_hosts=known_hosts))
    app = SshApp()
    async with app.run_test(size=(90, 30)) as pilot:
        await pilot.pause()
        pane = await app.query_one(TerminalTabs).open_session("flood", factory)
        await wait_for(pilot, lambda: pane.transport is not None)
        line = r"\033[31mred\033[0m \033[1;32mgreen\033[0m \033[38;5;208mmore words to parse\033[0m"
        pane.send(f"yes $'{line}' | head -n 30000; echo flood-$((1+1))\r".encode())  # ~2 MB; typed elsewhere
        await wait_for(pilot, shows(pilot, "flood-2"))  # its timeout is the stall detector
        assert shows(pilot, "red green more words to parse")()
        await type_line(pilot, "echo still-here")
        await wait_for(pilot, shows(pilot, "still-here"))


class RecordingSink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.reason: str | None = None

    def feed(self, data: bytes) -> None:
        self.data += data

    def closed(self, reason: str) -> None:
        self.reason = reason


async def test_ssh_transport_delivers_a_flood_whole_and_in_order(gateway, backend, known_hosts) -> None:  # noqa: F811
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    factory = ssh_transport_factory(lambda: SshSession(provider, VM_ID, known_hosts=known_hosts))
    sink = RecordingSink()
    transport = await factory(sink, 80, 24)
    transport.write(b"stty -echo; echo ready-$((40+2))\n")  # markers the echoed command line cannot contain
    await until(lambda: b"ready-42" in sink.data)
    transport.write(b"seq 1 200000; echo end-$((6*7))\n")  # ~1.5 MB through the terminal
    await until(lambda: b"end-42" in sink.data)
    assert "\r\n".join(str(n) for n in range(1, 200001)).encode() + b"\r\nend-42" in sink.data
    transport.close()
    await until(lambda: sink.reason is not None)
    assert sink.reason == "closed"


class FailingSink(RecordingSink):
    """A pane whose parser process died: taking output fails, as `RemoteEmulator.send` does then."""

    def feed(self, data: bytes) -> None:
        super().feed(data)
        if b"ready-42" in self.data:
            raise ParserGone("the terminal's parser process was killed by SIGKILL")


async def test_a_failed_pane_ends_the_ssh_session_saying_so(gateway, backend, known_hosts) -> None:  # noqa: F811
    provider = FakeProvider(gateway, backend.add_vm(VM_ID), [VmState.RUNNING])
    factory = ssh_transport_factory(lambda: SshSession(provider, VM_ID, known_hosts=known_hosts))
    sink = FailingSink()
    transport = await factory(sink, 80, 24)
    transport.write(b"echo ready-$((40+2))\n")  # the echoed line cannot hold the marker, the output does
    await until(lambda: sink.reason is not None)
    assert sink.reason == "terminal output failed: the terminal's parser process was killed by SIGKILL"


async def until(condition, timeout: float = 120.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_unreachable_vm_ends_the_tab_with_the_reason(gateway, known_hosts) -> None:  # noqa: F811
    class NoKeyProvider(FakeProvider):
        async def ssh_key(self, vm_id: str):
            raise LookupError("VM is gone")

    provider = NoKeyProvider(gateway, None, [VmState.RUNNING])  # type: ignore[arg-type]
    factory = ssh_transport_factory(lambda: SshSession(provider, VM_ID, known_hosts=known_hosts))
    app = SshApp()
    async with app.run_test(size=(90, 30)) as pilot:
        await pilot.pause()
        pane = await app.query_one(TerminalTabs).open_session("gone", factory)
        await wait_for(pilot, lambda: app.query_one(TerminalSession).ended)
        assert pane.closed_reason == "VM is gone"
