"""ExecScreen: run a command on the selected VM without a shell and watch its output stream in.

The command line runs as `sh -c LINE` through the API's exec (no PTY, no SSH). Runs stay in the app's
`ExecRuns` after the screen closes, so reopening it lists recent and running ones; `a` re-attaches to a
detached run, `d` detaches (the command runs on), `l` shows the run's output from the VM's exec log
(where the provider has one).
"""

from __future__ import annotations

import codecs
import time
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Log, Static

from vmtui.core.errors import ProviderError
from vmtui.core.models import Vm
from vmtui.services.exec_runs import ExecRun, ExecRuns
from vmtui.ui.format import clean, clean_lines, format_age
from vmtui.ui.widgets.column_fit import ColumnSpec, fit_columns

REFRESH_SECONDS = 0.1
"""Output and statuses repaint at most this often, however fast a command writes."""

COLUMNS: tuple[tuple[str, ColumnSpec], ...] = (
    ("VM", ColumnSpec("vm", 2, 8, 16, essential=True)),
    ("Command", ColumnSpec("command", 3, 12, None, essential=True)),
    ("Status", ColumnSpec("status", 0, 8, 8, essential=True)),
    ("Age", ColumnSpec("age", 1, 3, 4, essential=True)),
)
"""The runs table: status and age always whole (`exit 255`, `detached`, `59m`), the command takes the
rest of the dialog's width."""


class OutputFeed:
    """Writes a run's output into a Log as it grows: only the new bytes are decoded, cleaned and
    appended (Log continues a line a previous write left open), so a long-running command costs what
    it adds, not what it has written so far."""

    LINE_LIMIT = 2000

    def __init__(self, log: Log) -> None:
        self.log = log
        self.run_id: str | None = None
        self.received = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.carriage = False
        """The last piece ended in CR: a LF opening the next piece belongs to the same line break."""

    def show(self, run: ExecRun) -> None:
        """Bring the log up to `run`'s output: append what is new, or start over for another run (or
        when more arrived than `run.output` still holds)."""
        new = run.received - self.received
        if run.exec_id != self.run_id or new > len(run.output) or new < 0:
            self.log.clear()
            self.run_id, self.received = run.exec_id, 0
            self.decoder.reset()
            self.carriage = False
            new = len(run.output)
        if new:
            self._append(bytes(run.output[len(run.output) - new :]))
            self.received = run.received

    def forget(self) -> None:
        """The log shows something else now: the next `show` starts over."""
        self.run_id = None

    def _append(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if self.carriage and text.startswith("\n"):
            text = text[1:]
        self.carriage = text.endswith("\r")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.log.write("\n".join(clean(line.expandtabs(), self.LINE_LIMIT) for line in lines))


def shell_command(line: str) -> list[str]:
    """What a typed line runs as: `sh -c LINE` (vers-cli runs `bash -c`; not every image has bash)."""
    return ["sh", "-c", line]


class ExecScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="exec.close", tooltip="Back (runs keep going)"),
        Binding("a", "attach", "Attach", id="exec.attach", tooltip="Follow a detached run again"),
        Binding("d", "detach", "Detach", id="exec.detach", tooltip="Stop following; the command runs on"),
        Binding("l", "logs", "Logs", id="exec.logs", tooltip="The run's output from the VM's exec log"),
    ]
    DEFAULT_CSS = """
    ExecScreen #exec-runs { height: auto; max-height: 8; scrollbar-gutter: stable; }
    ExecScreen #exec-output { height: 1fr; min-height: 5; border: round $foreground 30%; }
    ExecScreen #exec-status { height: auto; color: $text-muted; }
    """

    def __init__(self, runs: ExecRuns, vm: Vm) -> None:
        super().__init__()
        self.runs = runs
        self.vm = vm
        self.shown: tuple[str, str] | None = None
        """(exec id, status) the status line shows: it is rewritten only when that changes."""
        self.log_of: str | None = None
        """The run whose VM exec log is shown (`l`) instead of its live output, until another is selected."""
        self.rows: list[tuple[str, str, str, str, str, bool]] = []
        self.widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="exec-dialog", classes="dialog"):
            yield Label(
                Text(f"Run on {clean(self.vm.display_name, 60)} (no shell, exec API)"), classes="dialog-title"
            )
            yield Input(placeholder="command, run as sh -c …; Enter runs it", id="exec-command")
            yield DataTable(cursor_type="row", id="exec-runs")
            yield Log(id="exec-output", max_lines=10_000, auto_scroll=True)
            yield Static("", id="exec-status")
        yield Footer()

    def on_mount(self) -> None:
        self.feed = OutputFeed(self.query_one(Log))
        self.call_after_refresh(self._fit_columns)
        self.set_interval(REFRESH_SECONDS, self._repaint)
        self._repaint()
        self.query_one(Input).focus()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_columns)

    def _fit_columns(self) -> None:
        """Columns as wide as the table's room (the dialog shrinks with the terminal): nothing is cut."""
        table = self.query_one(DataTable)
        widths = fit_columns([spec for _, spec in COLUMNS], table.scrollable_content_region.width)
        if widths == self.widths:
            return
        self.widths = widths
        keep = self.selected
        table.clear(columns=True)
        for label, spec in COLUMNS:
            table.add_column(label, key=spec.key, width=widths[spec.key])
        self.rows = []
        self._fill_table()
        if keep is not None:
            self.selected = keep
        self._repaint()  # the selected run's output and status, now that it has a row

    @on(Input.Submitted, "#exec-command")
    def _run(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line:
            return
        run = self.runs.start(self.vm, shell_command(line))
        event.input.value = ""
        self.selected = run
        self._repaint()

    # ---------------------------------------------------------------- what is shown

    @property
    def selected(self) -> ExecRun | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((run for run in self.runs.runs if run.exec_id == key), None)

    @selected.setter
    def selected(self, run: ExecRun) -> None:
        self._fill_table()
        table = self.query_one(DataTable)
        if run.exec_id in table.rows:  # not before the columns are laid out
            table.move_cursor(row=table.get_row_index(run.exec_id))

    def _repaint(self) -> None:
        self._fill_table()
        run = self.selected
        if run is not None and run.exec_id == self.log_of:
            return
        self.log_of = None
        if run is not None:
            self.feed.show(run)
        now = None if run is None else (run.exec_id, run.status)
        if now == self.shown:
            return
        self.shown = now
        self.status("No runs yet: type a command and press Enter" if run is None else self._describe(run))

    def _fill_table(self) -> None:
        """The runs, one row each; rebuilt only when a row changed (ages move once a second)."""
        if not self.widths:
            return  # the columns are laid out once the dialog has its size
        now = time.time()
        rows = [
            (
                run.exec_id,
                clean(run.vm_name, self.widths["vm"]),
                clean(run.line, self.widths["command"]),
                run.status,
                format_age(now - run.started),
                run.failed,
            )
            for run in self.runs.runs
        ]
        if rows == self.rows:
            return
        self.rows = rows
        table = self.query_one(DataTable)
        keep = self.selected.exec_id if self.selected else None
        table.clear()
        for exec_id, vm_name, command, status, age, failed in rows:
            table.add_row(vm_name, command, Text(status, "bold red" if failed else ""), age, key=exec_id)
        if keep is not None:
            table.move_cursor(row=table.get_row_index(keep))

    @staticmethod
    def _describe(run: ExecRun) -> str:
        if run.error is not None:
            return f"{run.vm_name}: {run.error}"
        if run.exit_code is not None:
            return f"{run.vm_name}: exited with code {run.exit_code}"
        if run.following:
            return f"{run.vm_name}: running… (d detaches; the command runs on)"
        return f"{run.vm_name}: detached (a re-attaches)"

    def status(self, text: str) -> None:
        self.query_one("#exec-status", Static).update(Text(clean(text, 300)))

    # ---------------------------------------------------------------- keys

    def action_attach(self) -> None:
        run = self.selected
        if run is None or run.finished or run.following:
            self.status("Select a detached run to re-attach")
            return
        self.runs.attach(run)

    def action_detach(self) -> None:
        run = self.selected
        if run is not None and run.following:
            self.runs.detach(run)

    @work(group="exec-logs", exclusive=True, exit_on_error=False)
    async def action_logs(self) -> None:
        run = self.selected
        if run is None:
            return
        self.status("Reading the VM's exec log…")
        try:
            text = await self.runs.logs(run)
        except ProviderError as exc:
            self.status(f"No exec log: {exc}")
            return
        log = self.query_one(Log)
        log.clear()
        log.write_lines(clean_lines(text))
        self.feed.forget()
        self.log_of = run.exec_id
        self.status(f"{run.vm_name}: the VM's exec log of this run ({len(text)} characters)")
