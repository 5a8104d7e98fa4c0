"""PtyTransport: a wakeup drains what the PTY holds (bounded by READ_BATCH) into one feed, in order."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from vmtui.terminal import pty_transport
from vmtui.terminal.pty_transport import READ_BATCH, PtyTransport, read_available

pytestmark = pytest.mark.timeout(60)


class Sink:
    def __init__(self) -> None:
        self.feeds: list[bytes] = []
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def feed(self, data: bytes) -> None:
        self.feeds.append(data)

    def closed(self, reason: str) -> None:
        self.ended.set_result(reason)


class PtyReads:
    """Stands in for `os` in pty_transport: `read` returns one queued piece per call, like a PTY (~4 KB);
    `unread` is what FIONREAD would report (the next piece)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.calls = 0

    def unread(self, fd: int) -> int:
        return len(self.pieces[0]) if self.pieces else 0

    def read(self, fd: int, size: int) -> bytes:
        self.calls += 1
        if not self.pieces:
            raise BlockingIOError
        piece = self.pieces.pop(0)
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
        return piece[:size]


def use_pty_reads(monkeypatch: pytest.MonkeyPatch, pieces: list[bytes]) -> PtyReads:
    reads = PtyReads(pieces)
    monkeypatch.setattr(pty_transport, "os", reads)
    monkeypatch.setattr(pty_transport, "unread_bytes", reads.unread)
    return reads


def test_a_wakeup_drains_every_waiting_tty_buffer_into_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = use_pty_reads(monkeypatch, [bytes([65 + i]) * 4095 for i in range(5)])
    data, ended = read_available(fd=3)
    assert data == b"".join(bytes([65 + i]) * 4095 for i in range(5)) and not ended
    assert reads.calls == 5, "no read that finds the tty empty (it would wait for the kernel's worker)"


def test_a_wakeup_reads_at_most_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = use_pty_reads(monkeypatch, [b"z" * 4095] * 40)
    data, ended = read_available(fd=3)
    assert len(data) == READ_BATCH and not ended
    assert len(b"".join(reads.pieces)) == 40 * 4095 - READ_BATCH  # left for the next wakeup


def test_the_end_of_output_is_reported_after_the_last_data(monkeypatch: pytest.MonkeyPatch) -> None:
    use_pty_reads(monkeypatch, [b"bye", b""])
    assert read_available(fd=3) == (b"bye", False)
    assert read_available(fd=3) == (b"", True)  # the poller wakes again for the hangup


async def test_a_flood_through_a_real_pty_arrives_whole_in_order_in_bounded_feeds(tmp_path: Path) -> None:
    size = 3 * READ_BATCH
    script = f"head -c {size} /dev/zero | tr '\\0' y; exec sleep 60"
    sink = Sink()
    transport = await PtyTransport.spawn(sink, 80, 24, ["sh", "-c", script])
    try:
        async with asyncio.timeout(30):
            while sum(map(len, sink.feeds)) < size:
                await asyncio.sleep(0.01)
        assert b"".join(sink.feeds) == b"y" * size
        assert max(map(len, sink.feeds)) <= READ_BATCH
    finally:
        transport.close()
    await sink.ended


async def test_close_stops_the_reader_even_while_a_process_of_another_session_holds_the_pty() -> None:
    # `setsid` puts the sleeper out of reach of the SIGHUP that close() sends, and it keeps the PTY open:
    # a reader blocked in read() would never return; ours also waits on its stop pipe.
    sink = Sink()
    transport = await PtyTransport.spawn(
        sink, 80, 24, ["sh", "-c", "setsid sleep 120 & echo bg=$!; exec cat"]
    )
    sleeper = 0
    try:
        async with asyncio.timeout(30):
            while b"\n" not in b"".join(sink.feeds):
                await asyncio.sleep(0.01)
        sleeper = int(b"".join(sink.feeds).split(b"bg=")[1].split()[0])
        transport.close()
        assert await sink.ended == "closed"
        async with asyncio.timeout(30):
            while transport.reader.is_alive():
                await asyncio.sleep(0.01)
        assert Path(f"/proc/{sleeper}").exists(), "the PTY was still held open by the sleeper"
    finally:
        transport.close()
        if sleeper:
            os.kill(sleeper, signal.SIGKILL)


async def test_the_reader_ends_after_the_program_exits_and_its_output_is_delivered() -> None:
    sink = Sink()
    transport = await PtyTransport.spawn(sink, 80, 24, ["sh", "-c", "echo last-words"])
    assert await asyncio.wait_for(sink.ended, 30) == "process exited with status 0"
    assert b"last-words" in b"".join(sink.feeds)
    async with asyncio.timeout(30):
        while transport.reader.is_alive():
            await asyncio.sleep(0.01)


async def test_a_session_gets_default_signals_even_when_vmtui_ignores_them() -> None:
    """Started under `nohup` (SIGHUP ignored) or as a background job (SIGINT ignored), vmtui must still give
    its sessions default signal handling: else close() cannot end them and ctrl+c interrupts nothing."""
    ignored = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
    previous = [signal.signal(number, signal.SIG_IGN) for number in ignored]
    try:
        sink = Sink()
        transport = await PtyTransport.spawn(
            sink, 80, 24, ["sh", "-c", "grep SigIgn /proc/self/status; exec sleep 120"]
        )
    finally:
        for number, handler in zip(ignored, previous, strict=True):
            signal.signal(number, handler)
    try:
        async with asyncio.timeout(30):
            while b"\n" not in b"".join(sink.feeds):
                await asyncio.sleep(0.01)
        mask = int(b"".join(sink.feeds).split(b"SigIgn:")[1].split()[0], 16)
        assert not [number for number in ignored if mask & (1 << (number - 1))]
        transport.close()
        assert await sink.ended == "closed"
        async with asyncio.timeout(30):
            while Path(f"/proc/{transport.pid}").exists():  # SIGHUP ended it and it was reaped
                await asyncio.sleep(0.01)
    finally:
        if Path(f"/proc/{transport.pid}").exists():
            os.killpg(transport.pid, signal.SIGKILL)
