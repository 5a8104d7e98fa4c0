"""`TerminalPane`: an interactive terminal widget.

The Textual-free parts live in `vmtui.terminal`: `OutputPipeline` (parsing in the transport's reader
thread or a child process, repaint scheduling), `ScrollbackView` (scroll mode, search, selection), `MouseReporter` and
`encode_key`. This widget wires them to Textual events and owns the session; `TerminalDisplay` draws.
Event handlers that read or change the emulator or the view hold `pipeline.current()` (its lock, all output
received so far parsed).

Every key reaches the remote program, except the prefix `PREFIX_KEY` (ctrl+], tmux-like: the next key is a
tab command or leaves, see `terminal_keys`) and shift+PageUp/PageDown, which scroll the local scrollback. App and screen bindings cannot take keys from a focused pane
(`check_consume_key`), and Escape is not turned into "minimize" while it has focus. While scrolled back the
pane is in scroll mode (see `ScrollbackView`); any key scroll mode does not use returns to the live screen
and is sent. The mouse selects text (copied on release) unless the remote program asked for mouse reports;
the wheel scrolls the scrollback, or sends cursor keys on the alternate screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message

from vmtui.terminal.emulator import FeedResult
from vmtui.terminal.keys import encode_key
from vmtui.terminal.modes import Mode
from vmtui.terminal.mouse import MouseModifiers, MouseReporter
from vmtui.terminal.scrollback_view import SCROLL_MODE_KEYS, KeyOutcome
from vmtui.terminal.transport import TransportFactory
from vmtui.ui.widgets.terminal_display import TerminalDisplay
from vmtui.ui.widgets.terminal_keys import LEAVE_KEYS, PREFIX_DISPLAY, PREFIX_KEY, prefix_command

PREFIX_HINT = (
    f"{PREFIX_DISPLAY} then: n/p next/previous tab, 1-9 tab, x close, X close ended, r reconnect, Esc leave"
)

WHEEL_LINES = 3


class TerminalPane(TerminalDisplay, can_focus=True):
    """A terminal fed by a `TerminalTransport`; implements `TerminalSink` (`feed`, `closed`)."""

    DEFAULT_CSS = """
    TerminalPane {
        width: 1fr;
        height: 1fr;
        background: $background;
        color: $foreground;
    }
    TerminalPane > .terminal-pane--selection {
        background: $primary 60%;
    }
    TerminalPane > .terminal-pane--match {
        background: $warning 70%;
        color: $text;
    }
    TerminalPane > .terminal-pane--prompt {
        background: $panel;
        color: $text;
        text-style: bold;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            PREFIX_KEY,
            "prefix",
            "Tabs / leave",
            key_display=PREFIX_DISPLAY,
            priority=True,
            id="terminal.prefix",
            tooltip="Then n/p/1-9 switch tabs, x closes, r reconnects, Esc leaves; other keys go to the program.",
        ),
    ]

    class TitleChanged(Message):
        """The remote program set the window title (OSC 0/2)."""

        def __init__(self, pane: TerminalPane, title: str) -> None:
            super().__init__()
            self.pane = pane
            self.title = title

        @property
        def control(self) -> TerminalPane:
            return self.pane

    class TabCommand(Message):
        """A tab command typed after the prefix (`terminal_keys.PREFIX_COMMANDS`, or "goto" tab `index`)."""

        def __init__(self, pane: TerminalPane, command: str, index: int) -> None:
            super().__init__()
            self.pane = pane
            self.command = command
            self.index = index

        @property
        def control(self) -> TerminalPane:
            return self.pane

    class Closed(Message):
        """The session ended; `reason` says why."""

        def __init__(self, pane: TerminalPane, reason: str) -> None:
            super().__init__()
            self.pane = pane
            self.reason = reason

        @property
        def control(self) -> TerminalPane:
            return self.pane

    def __init__(
        self,
        *,
        scrollback: int = 5000,
        emulator: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(scrollback=scrollback, emulator=emulator, name=name, id=id, classes=classes)
        self._factory: TransportFactory | None = None
        self._mouse: MouseReporter | None = None
        self._selecting_with_mouse = False
        self._escape_override = False
        self.prefix_armed = False
        """ctrl+] was pressed: the next key is a tab command (`terminal_keys`), not sent to the program."""
        self._prefixes_queued = 0
        """ctrl+] presses not yet applied (`action_prefix`)."""

    # -- session lifecycle ------------------------------------------------------------------------------
    def connect(self, factory: TransportFactory) -> None:
        """Open a session through `factory` as soon as the pane knows its real size."""
        self._factory = factory
        self.closed_reason = None
        if self.emulator is not None:
            self.call_after_refresh(self._start_session)  # after any pending layout change of the pane

    def _start_session(self) -> None:
        factory, self._factory = self._factory, None
        if factory is None or self.emulator is None:
            return
        self.renew_emulator_if_parser_gone()
        self._apply_size()  # open with the size the pane has now, not the last debounced one
        cols, rows = self.emulator.size
        self.run_worker(self._open(factory, cols, rows), group="terminal-connect", exit_on_error=False)

    async def _open(self, factory: TransportFactory, cols: int, rows: int) -> None:
        try:
            transport = await factory(self, cols, rows)
        except Exception as error:  # noqa: BLE001 - any failure to connect ends the session with its message
            self.closed(str(error) or type(error).__name__)
            return
        self.pipeline.transport = transport
        if self.emulator is not None and self.emulator.size != (cols, rows):
            transport.resize(*self.emulator.size)

    def close(self) -> None:
        """End the session (the transport reports back through `closed`)."""
        if self.transport is not None:
            self.transport.close()

    def on_unmount(self) -> None:
        self.close()  # a removed pane (closed tab, app exit) must not leave its session running

    def feed(self, data: bytes) -> None:
        """Queue output from the remote program (called by the transport)."""
        self.pipeline.feed(data)

    def closed(self, reason: str) -> None:
        """The transport is gone (called by the transport)."""
        self.pipeline.closed()
        self.closed_reason = reason
        self.post_message(self.Closed(self, reason))

    def output_applied(self, result: FeedResult) -> bool:
        if result.title is not None:
            self.post_message(self.TitleChanged(self, result.title))
        return super().output_applied(result)

    def _size_known(self) -> None:
        assert self.emulator is not None
        self._mouse = MouseReporter(self.emulator.scanner)
        self._start_session()

    # -- keyboard ---------------------------------------------------------------------------------------
    @property
    def takes_every_key(self) -> bool:
        """Typed keys come straight here, not one at a time through the app's `KeyGate`; but not the key
        after the prefix, which may leave the terminal: the keys typed after that one wait for it."""
        return not self.prefix_armed and not self._prefixes_queued

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Every key but the leave chord belongs to the terminal: app/screen bindings must not take it."""
        return key != PREFIX_KEY

    def action_prefix(self) -> None:
        """ctrl+] (a priority binding: it runs as soon as it is typed) takes effect behind the keys typed
        before it that the pane has not handled yet, so those still go to the program."""
        self._prefixes_queued += 1
        self.call_later(self._prefix)

    def _prefix(self) -> None:
        """Arm the prefix; pressed again, leave the terminal."""
        self._prefixes_queued -= 1
        if self.prefix_armed:
            self.prefix_armed = False
            self.action_leave()
            return
        self.prefix_armed = True
        self.notify(PREFIX_HINT, timeout=3, markup=False)

    def _prefixed_key(self, event: events.Key) -> None:
        """The key after the prefix: a tab command, a leave, or leave and let the panes have the key (it
        goes on to the bindings of what has focus now, before any key typed after it)."""
        self.prefix_armed = False
        command = prefix_command(event.key)
        if command is not None:
            event.stop()
            self.post_message(self.TabCommand(self, *command))
            return
        self.action_leave()
        if event.key in LEAVE_KEYS:
            event.stop()

    def action_leave(self) -> None:
        """Move focus out of the terminal."""
        self.screen.focus_next()
        if self.screen.focused is self:
            self.screen.set_focus(None)

    async def on_key(self, event: events.Key) -> None:
        if self.prefix_armed:
            self._prefixed_key(event)
            return
        event.stop()
        event.prevent_default()
        with self.pipeline.current():  # output received before the key is parsed, and stays so
            self._key(event)

    def _key(self, event: events.Key) -> None:
        key, view = event.key, self.view
        if view.search_prompt is not None:
            self._view_changed(view.prompt_key(key, event.character, event.is_printable))
        elif key == "shift+pageup":
            view.page_up()
            self.refresh()
        elif key == "shift+pagedown":
            view.page_down()
            self.refresh()
        elif view.scroll_mode and key in SCROLL_MODE_KEYS:
            self._view_changed(view.key(key))
        else:
            application_cursor = self.emulator.application_cursor if self.emulator else False
            data = encode_key(key, event.character, application_cursor=application_cursor)
            if data is None and event.is_printable and event.character:
                data = event.character.encode()
            if data:
                self.send(data)

    def _view_changed(self, outcome: KeyOutcome) -> None:
        if outcome.copied:
            self._copy(outcome.copied)
        if outcome.not_found:
            self.notify(f"{outcome.not_found!r} not found", severity="warning", timeout=2)
        self.refresh()

    def send(self, data: bytes) -> None:
        """Send input to the remote program and return the view to the live screen."""
        if self.view.scroll_mode or self.view.history_offset:
            self.view.leave_scroll_mode()
            self.refresh()
        elif self.view.selection.started:
            self._clear_selection()
        if self.transport is not None:
            self.transport.write(data)

    def on_paste(self, event: events.Paste) -> None:
        with self.pipeline.current():  # see on_key
            event.stop()
            text = event.text.replace("\r\n", "\r").replace("\n", "\r")
            if self.emulator is not None and self.emulator.mode(Mode.BRACKETED_PASTE):
                text = "\x1b[200~" + text.replace("\x1b[201~", "") + "\x1b[201~"
            self.send(text.encode("utf-8"))

    def on_focus(self) -> None:
        # Textual turns Escape into "minimize" while anything is maximized, before any widget sees it; while
        # the terminal has focus, Escape belongs to the remote program (vim!). Undone on blur.
        if "ESCAPE_TO_MINIMIZE" not in vars(self.screen):
            self.screen.ESCAPE_TO_MINIMIZE = False
            self._escape_override = True
        self._focus_report("\x1b[I")

    def on_blur(self) -> None:
        if self._escape_override:
            del self.screen.ESCAPE_TO_MINIMIZE
            self._escape_override = False
        self._focus_report("\x1b[O")

    def _focus_report(self, sequence: str) -> None:
        with self.pipeline.current():  # see on_key
            if self.emulator is None:
                return
            self.pipeline.invalidate_row(self.emulator.cursor.row)
            if self.emulator.mode(Mode.FOCUS_EVENTS) and self.transport is not None:
                self.transport.write(sequence.encode())

        # -- selection and copy -----------------------------------------------------------------------------

    def _copy(self, text: str) -> None:
        """Copy to the clipboard (OSC 52 through the outer terminal)."""
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} characters", timeout=2)

    def _clear_selection(self) -> None:
        self.view.clear_selection()
        self.refresh()

    # -- mouse ------------------------------------------------------------------------------------------
    def _reporter(self, event: events.MouseEvent) -> MouseReporter | None:
        """The reporter if the remote program wants this event (shift forces local selection, as in xterm)."""
        mouse = self._mouse
        if mouse is None or not mouse.tracking or event.shift or self.transport is None or self.scroll_mode:
            return None
        return mouse

    def _report(
        self, event: events.MouseEvent, encode: Callable[[int, int, MouseModifiers], bytes | None]
    ) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.transport is None:
            return
        data = encode(offset.x, offset.y, MouseModifiers(event.shift, event.meta, event.ctrl))
        if data is not None:
            self.transport.write(data)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        with self.pipeline.current():  # see on_key
            if (mouse := self._reporter(event)) is not None:
                self._report(event, lambda x, y, mods: mouse.press(event.button, x, y, mods))
                event.stop()
                return
            offset = event.get_content_offset(self)
            if event.button == 1 and offset is not None and self.emulator is not None:
                self.view.selection.start(self.view.point(offset.x, offset.y))
                self._selecting_with_mouse = True
                self.capture_mouse()
                self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        with self.pipeline.current():  # see on_key
            if (mouse := self._reporter(event)) is not None:
                self._report(event, mouse.move)
                return
            offset = event.get_content_offset(self) if self._selecting_with_mouse else None
            if offset is not None and self.view.selection.extend(self.view.point(offset.x, offset.y)):
                self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        with self.pipeline.current():  # see on_key
            if (mouse := self._reporter(event)) is not None and mouse.pressed(event.button):
                self._report(event, lambda x, y, mods: mouse.release(event.button, x, y, mods))
                return
            if self._selecting_with_mouse:
                self._selecting_with_mouse = False
                self.release_mouse()
                if self.view.selection.ordered() is None:
                    self._clear_selection()
                elif text := self.view.selected_text():
                    self._copy(text)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, up=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, up=False)

    def _wheel(self, event: events.MouseEvent, up: bool) -> None:
        with self.pipeline.current():  # see on_key
            event.stop()
            emulator = self.emulator
            if emulator is None:
                return
            if (mouse := self._reporter(event)) is not None:
                self._report(event, lambda x, y, mods: mouse.wheel(up, x, y, mods))
            elif emulator.alternate_screen:
                key = encode_key("up" if up else "down", None, application_cursor=emulator.application_cursor)
                if key and self.transport is not None:
                    self.transport.write(key * WHEEL_LINES)
            else:
                self.view.scroll_history(self.view.history_offset + (WHEEL_LINES if up else -WHEEL_LINES))
                self.refresh()
