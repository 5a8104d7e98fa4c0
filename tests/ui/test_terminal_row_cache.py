"""The pane's strip cache: rows are drawn again only when what they show changed, and the cursor,
search match and selection are drawn on top of shared strips, row by row."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.style import Style
from textual.filter import ANSIToTruecolor
from textual.geometry import Region

from tests.ui.terminal_helpers import TerminalApp, screen_lines, settle
from vmtui.terminal.screen_model import Run
from vmtui.ui.widgets.terminal_pane import TerminalPane

SIZE = (60, 20)  # the pane is 60x17 (the Input below takes 3 rows)


@pytest.fixture(params=["avt", "pyte"])
def emulator(request: pytest.FixtureRequest) -> str:
    return request.param


def record_builds(pane: TerminalPane) -> list[str]:
    """The text of every row strip built from now on."""
    built: list[str] = []
    build = pane._cache._build

    def recording(runs: list[Run], width: int):
        built.append("".join(text for text, _style in runs).rstrip())
        return build(runs, width)

    pane._cache._build = recording  # type: ignore[method-assign]
    return built


def styled_rows(pane: TerminalPane, start: int, end: int, check) -> list[int]:
    """Rows whose cells [start, end) all pass `check(style)`."""
    rows = []
    for y in range(pane.size.height):
        _before, cells, _after = pane.render_line(y).divide([start, end, pane.size.width])
        if all(check(style) for _text, style, _control in cells):
            rows.append(y)
    return rows


async def test_a_scrolled_screen_builds_only_its_new_line_and_a_changed_row_is_rebuilt(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"".join(b"line %d\r\n" % i for i in range(30)))
        await settle(pilot)
        built = record_builds(app.pane)
        app.transport.sink.feed(b"line 30\r\n")  # every row moves up one
        await settle(pilot)
        await pilot.pause()
        assert built == ["line 30"]
        assert screen_lines(app.pane)[:3] == ["line 15", "line 16", "line 17"]
        assert screen_lines(app.pane)[15] == "line 30"
        built.clear()
        app.transport.sink.feed(b"\x1b[3;1HLINE\x1b[17;1H")  # row 2 rewritten in place
        await settle(pilot)
        await pilot.pause()
        assert built == ["LINE 17"]
        assert screen_lines(app.pane)[1:4] == ["line 16", "LINE 17", "line 18"]


async def test_cursor_and_search_match_are_drawn_on_their_own_row_of_equal_rows(emulator: str) -> None:
    app = TerminalApp(emulator)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"same\r\n" * 40 + b"same")  # every row shows the same line
        await settle(pilot)
        pane = app.pane
        assert styled_rows(pane, 4, 5, lambda style: bool(style and style.reverse)) == [16]
        await pilot.press("shift+pageup", "slash", "s", "a", "m", "e", "enter")
        match_colour = pane.get_component_rich_style("terminal-pane--match").bgcolor
        matched = styled_rows(pane, 0, 4, lambda style: style is not None and style.bgcolor == match_colour)
        match_row = pane.view.match[0] - pane.view.top_line()
        assert matched == [match_row]
        await pilot.press("escape")
        assert (
            styled_rows(pane, 0, 4, lambda style: style is not None and style.bgcolor == match_colour) == []
        )


def row_colours(pane: TerminalPane, y: int) -> dict[str, Style]:
    """Each word of row `y` and its style, as the screen gets it (after the pane's line filters)."""
    background = pane.background_colors[1]
    strip = pane.render_lines(Region(0, y, pane.size.width, 1))[0]
    for line_filter in pane.get_line_filters():
        strip = strip.apply_filter(line_filter, background)
    return {text.strip(): style for text, style, _control in strip if text.strip() and style is not None}


async def test_ansi_colours_follow_the_theme_palette_converted_once_per_style_not_by_textuals_filter() -> (
    None
):
    app = TerminalApp("avt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.transport.sink.feed(b"\x1b[31mred\x1b[0m \x1b[38;5;208mindexed\x1b[0m \x1b[2mdim\x1b[0m\r\n")
        await settle(pilot)
        pane = app.pane
        assert not any(isinstance(line_filter, ANSIToTruecolor) for line_filter in pane.get_line_filters())
        assert any(isinstance(line_filter, ANSIToTruecolor) for line_filter in app.get_line_filters())
        colours = row_colours(pane, 0)
        assert colours["red"].color.triplet == app.ansi_theme.ansi_colors[1]
        assert colours["indexed"].color.triplet == RichColor.from_ansi(208).get_truecolor()
        assert not colours["dim"].dim  # dimmed as Textual's filter does: a blended colour, no SGR 2
        assert colours["dim"].color.triplet not in (None, pane.rich_style.color.triplet)

        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        assert app.ansi_theme is app.ansi_theme_light
        assert row_colours(pane, 0)["red"].color.triplet == app.ansi_theme_light.ansi_colors[1]

        app.ansi_color = True  # the terminal draws ANSI colours itself: the pane sends them as they are
        pane.refresh()
        assert row_colours(pane, 0)["red"].color.number == 1
        assert row_colours(pane, 0)["red"].color.triplet is None
