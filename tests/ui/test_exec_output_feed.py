"""The exec panel appends only what a run adds: pieces split anywhere (inside a UTF-8 character,
between CR and LF) read as the whole output would, and hostile bytes stay inert."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Log

from tests.ui.helpers import wait_until
from vmtui.core.models import ExecEvent
from vmtui.paths import styles_dir
from vmtui.services.exec_runs import OUTPUT_KEPT, ExecRun
from vmtui.ui.app import DIALOG_STYLES, MAIN_STYLES
from vmtui.ui.screens.exec_runs import OutputFeed

OUTPUT = "naïve ✓ line\r\nsecond\tcol\rthird \x1b[2Jevil\x07\nlast, no newline".encode()


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Log()


class StyledApp(App[None]):
    """With the app's stylesheet: the dialog's size on a small terminal is the question."""

    CSS_PATH = [str(styles_dir() / name) for name in (MAIN_STYLES, DIALOG_STYLES)]  # noqa: RUF012


def chunk(data: bytes) -> ExecEvent:
    return ExecEvent(kind="chunk", data=data)


def shown(log: Log) -> list[str]:
    return list(log.lines)


async def test_output_fed_in_pieces_reads_as_the_whole_output_and_only_new_bytes_are_written():
    app = LogApp()
    async with app.run_test():
        log = app.query_one(Log)
        whole = ExecRun("local", "vm", "vm", ("sh",), "whole")
        whole.apply(chunk(OUTPUT))
        OutputFeed(log).show(whole)
        expected = shown(log)
        assert expected == ["naïve ✓ line", "second  col", "third �[2Jevil�", "last, no newline"]

        log.clear()
        feed = OutputFeed(log)
        run = ExecRun("local", "vm", "vm", ("sh",), "pieces")
        written: list[str] = []
        original = log.write
        log.write = lambda data, *args, **kwargs: (written.append(data), original(data, *args, **kwargs))[1]
        cuts = [OUTPUT.index(b"\xc3") + 1, OUTPUT.index(b"\r\n") + 1, OUTPUT.index(b"\x1b") + 2]
        for start, end in zip([0, *cuts], [*cuts, len(OUTPUT)], strict=True):
            run.apply(chunk(OUTPUT[start:end]))
            feed.show(run)
            feed.show(run)  # nothing new: nothing written
        assert shown(log) == expected
        assert len(written) == 4 and "".join(written) == "\n".join(expected)  # each byte written once


async def test_a_run_that_outgrew_what_is_kept_or_another_run_starts_over():
    app = LogApp()
    async with app.run_test():
        log = app.query_one(Log)
        feed = OutputFeed(log)
        run = ExecRun("local", "vm", "vm", ("sh",), "big")
        run.apply(chunk(b"first\n"))
        feed.show(run)
        run.apply(chunk(b"x" * OUTPUT_KEPT + b"\nend\n"))  # "first" fell out of what the run keeps
        feed.show(run)
        assert shown(log)[-2:] == ["end", ""] and "first" not in shown(log)
        other = ExecRun("local", "vm", "vm", ("sh",), "other")
        other.apply(chunk(b"other\n"))
        feed.show(other)
        assert shown(log) == ["other", ""]


async def test_at_80x24_the_output_has_room_below_the_runs(monkeypatch):
    """The selected run's output is there as soon as the table is laid out, not at the next refresh."""
    from vmtui.core.models import Vm, VmState
    from vmtui.services.exec_runs import ExecRuns
    from vmtui.ui.screens import exec_runs
    from vmtui.ui.screens.exec_runs import ExecScreen

    monkeypatch.setattr(exec_runs, "REFRESH_SECONDS", 3600.0)  # no periodic repaint to show it later

    runs = ExecRuns({})
    run = ExecRun("local", "vm", "demo", ("sh", "-c", "echo hello"), "one")
    run.apply(chunk(b"hello\nLinux\n"))
    run.exit_code = 0
    runs.runs.append(run)
    vm = Vm(provider="local", provider_kind="vers", id="vm", label="demo", state=VmState.RUNNING)
    app = StyledApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(ExecScreen(runs, vm))
        log = app.screen.query_one(Log)
        await wait_until(pilot, lambda: list(log.lines)[:2] == ["hello", "Linux"], "the run's output", 30)
        assert log.content_region.height >= 3 and list(log.lines)[:2] == ["hello", "Linux"]


async def test_every_column_of_the_runs_table_fits_from_80_columns_up():
    """Status and age are whole at 80x24 and after the terminal grows; the command takes what is left."""
    from textual.widgets import DataTable

    from tests.snapshots.test_exec_snapshots import VM, three_runs
    from vmtui.ui.screens.exec_runs import ExecScreen

    app = StyledApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(ExecScreen(three_runs(), VM))
        for size in ((80, 24), (140, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            table = app.screen.query_one(DataTable)
            widths = [column.get_render_width(table) for column in table.columns.values()]
            assert len(widths) == 4 and sum(widths) <= table.scrollable_content_region.width, (size, widths)
            assert table.get_row("detached")[2].plain == "detached" and table.get_row("failed")[3] == "5m"
            assert table.columns["status"].width >= len("detached")
