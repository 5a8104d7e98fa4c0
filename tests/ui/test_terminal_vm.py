"""The terminal tabs on a real sandboxed VM of the local engine, over its SSH-over-TLS gateway."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.ssh_helpers import GatewayBackend, GatewayProvider
from tests.ui.terminal_helpers import screen_lines
from tests.ui.test_terminal_pty import shows, type_line, wait_for
from tests.ui.test_terminal_ssh import SshApp
from vmtui.local.sandbox import Sandbox, SandboxSpec
from vmtui.local.sshd import start_gateway
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.ssh import SshSession
from vmtui.terminal.ssh_transport import ssh_transport_factory
from vmtui.terminal.transport import TransportFactory
from vmtui.ui.widgets.terminal_tabs import TerminalSession, TerminalTabs

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(120),
]


@pytest_asyncio.fixture
async def vm_factory(tmp_path: Path) -> AsyncIterator[TransportFactory]:
    """Opens SSH shells into a fresh sandboxed VM whose hostname is `vm-terminal`."""
    vm_id = f"7e57ab1e-{os.getpid()}"
    backend = GatewayBackend()
    spec = SandboxSpec(
        vm_id=vm_id, vm_dir=tmp_path / vm_id, layers=[], image=None, hostname="vm-terminal", env={}
    )
    backend.add(await Sandbox.boot(spec))
    gateway = await start_gateway(backend, tmp_path / "engine", "127.0.0.1", 0)
    try:
        provider = GatewayProvider(gateway, backend.keys[vm_id])
        known_hosts = TofuKnownHosts(tmp_path / "known_hosts")
        yield ssh_transport_factory(lambda: SshSession(provider, vm_id, known_hosts=known_hosts))
    finally:
        await gateway.close()
        await backend.sandboxes[vm_id].destroy()


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")
async def test_shell_and_vim_in_a_sandboxed_vm(vm_factory: TransportFactory) -> None:
    app = SshApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        pane = await app.query_one(TerminalTabs).open_session("vm", vm_factory)
        await wait_for(pilot, lambda: pane.transport is not None, timeout=30)
        await type_line(pilot, "echo host=$(hostname) size=$(stty size)")
        await wait_for(pilot, shows(pilot, f"host=vm-terminal size={pane.size.height} {pane.size.width}"))
        await type_line(pilot, "cd /tmp && vim -u NONE -N -i NONE note.txt")
        await wait_for(pilot, lambda: pane.emulator.alternate_screen and shows(pilot, "~")())
        await pilot.press("i", "v", "m", "escape")
        await type_line(pilot, ":wq")
        await wait_for(pilot, lambda: not pane.emulator.alternate_screen and not shows(pilot, "~")())
        await type_line(pilot, "cat /tmp/note.txt")
        await wait_for(pilot, shows(pilot, "vm"))
        assert shows(pilot, f"host=vm-terminal size={pane.size.height} {pane.size.width}")()
        await type_line(pilot, "exit")
        await wait_for(pilot, lambda: app.query_one(TerminalSession).ended)
        assert pane.closed_reason == "shell exited with status 0"


async def test_exec_seq_in_a_vm_is_painted_to_the_last_line_after_the_channel_closes(
    vm_factory: TransportFactory,
) -> None:
    lines = 300_000  # ~2 MB: more than the SSH window, the gateway's buffers and the pane's high water
    app = SshApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        pane = await app.query_one(TerminalTabs).open_session("vm", vm_factory)
        await wait_for(pilot, lambda: pane.transport is not None, timeout=30)
        await type_line(pilot, f"exec seq 1 {lines}")
        session = app.query_one(TerminalSession)

        def painted_after_the_end() -> bool:  # the ended banner shrinks the pane: wait for that resize too
            resized = pane.emulator.size == (pane.size.width, pane.size.height)
            return session.ended and resized and pane.settled

        await wait_for(pilot, painted_after_the_end)
        assert pane.closed_reason == "shell exited with status 0"
        painted = [line for line in screen_lines(pane) if line]
        assert painted[-2:] == [str(lines - 1), str(lines)], painted
