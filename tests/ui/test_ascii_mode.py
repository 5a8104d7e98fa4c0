"""`--ascii`: every character on the screen is ASCII, on the main screen and in the dialogs."""

from __future__ import annotations

import pytest

from tests.ui.demo_provider import demo_provider
from tests.ui.helpers import make_app, settle
from vmtui.ui.ascii_filter import ascii_glyph, to_ascii


def screen_lines(app) -> list[str]:
    """What the terminal shows now: the compositor's lines, after the app's line filters."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def non_ascii(app) -> set[str]:
    return {char for line in screen_lines(app) for char in line if not char.isascii()}


SCENES = {
    "main with a toast": ("ctrl+r",),
    "new VM form": ("n",),
    "help": ("question_mark",),
    "branch": ("down", "b"),
    "delete": ("down", "down", "down", "D"),
    "images": ("i",),
    "lineage commit": ("2", "up", "up"),
    "palette": ("ctrl+p",),
}


@pytest.mark.parametrize("keys", SCENES.values(), ids=SCENES.keys())
async def test_every_character_on_screen_is_ascii(keys):
    app = make_app(demo_provider(), ascii=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press(*keys)
        await pilot.pause(0.2)
        assert non_ascii(app) == set(), "\n".join(screen_lines(app))


async def test_without_ascii_the_same_screen_draws_unicode():
    """The check above can fail: the normal app draws box lines and half blocks."""
    app = make_app(demo_provider())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert non_ascii(app)


def test_glyphs_keep_their_width_and_read_as_what_they_were():
    assert to_ascii("┌─┬─┐│╰╯") == "+-+-+|++"
    assert to_ascii("▼ ▲ ▶ ◀") == "v ^ > <"
    assert to_ascii("▔▁▊▎") == "    "
    assert to_ascii("… — ·") == "~ - ."  # "~" marks a cut value, as the VM list does
    assert ascii_glyph("漢") == "??"  # two cells stay two cells
    assert to_ascii("plain text") == "plain text"
