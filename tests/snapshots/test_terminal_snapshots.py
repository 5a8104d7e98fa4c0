"""SVG snapshots of the terminal pane after fixed recordings (tests/data/recordings, made in tmux)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from tests.ui.helpers import wait_until
from tests.ui.terminal_helpers import MemoryTransport
from vmtui.terminal.transport import TerminalSink
from vmtui.ui.widgets.terminal_pane import TerminalPane

RECORDINGS = Path(__file__).parent.parent / "data" / "recordings"


class RecordingApp(App):
    """A full-window terminal pane that replays `data` once its session opens."""

    def __init__(self, data: bytes, emulator: str = "avt") -> None:
        super().__init__()
        self.data = data
        self.emulator = emulator

    def compose(self) -> ComposeResult:
        yield TerminalPane(emulator=self.emulator)

    def on_mount(self) -> None:
        self.query_one(TerminalPane).connect(self.replay)

    async def replay(self, sink: TerminalSink, cols: int, rows: int) -> MemoryTransport:
        transport = MemoryTransport(sink, cols, rows)
        sink.feed(self.data)
        return transport


def recording(name: str, snap: bool = False) -> bytes:
    data = (RECORDINGS / f"{name}.bin").read_bytes()
    if snap:
        header = (RECORDINGS / f"{name}.snap.txt").read_text().partition("\n")[0]
        data = data[: int(header.removeprefix("offset="))]
    return data


async def settle(pilot) -> None:
    """Until the replay session is open and everything it fed is parsed and painted."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    pane = pilot.app.query_one(TerminalPane)
    await wait_until(pilot, lambda: pane.transport is not None and pane.emulator is not None and pane.settled)
    await pilot.pause()


@pytest.mark.parametrize("emulator", ["avt", "pyte"])
def test_shell_with_colours_and_wide_characters(snap_compare, emulator: str) -> None:
    data = recording("bash_colors")
    app = RecordingApp(data[: data.index(b"seq 1 40")], emulator)  # before the output scrolls away
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_full_screen_curses_app_on_the_alternate_screen(snap_compare) -> None:
    app = RecordingApp(recording("curses_app", snap=True))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_vim_insert_mode(snap_compare) -> None:
    app = RecordingApp(recording("vim_session", snap=True))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
