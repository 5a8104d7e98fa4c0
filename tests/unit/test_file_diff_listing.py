"""The branch-and-list method's `find -printf` output: NUL-separated fields, so names with
newlines, tabs or escapes cannot shift a record; what counts as changed."""

from __future__ import annotations

import pytest

from vmtui.core.errors import BadRequest
from vmtui.services.file_diff import _check_under, _compare, _parse_find


def _record(kind: str, size: int, mtime: str, mode: str, target: str, path: str) -> str:
    return "\0".join((kind, str(size), mtime, mode, target, path)) + "\0"


def test_odd_names_stay_one_record_each():
    listing = _record("f", 3, "1.0", "644", "", "/srv/a\nb\tc") + _record(
        "l", 1, "1.0", "777", "/etc", "/srv/\x1b[2J"
    )
    parsed = _parse_find(listing)
    assert set(parsed) == {"/srv/a\nb\tc", "/srv/\x1b[2J"}
    assert parsed["/srv/\x1b[2J"].kind == "symlink" and parsed["/srv/\x1b[2J"].target == "/etc"


def test_size_mode_mtime_kind_or_target_make_a_change():
    base = _parse_find(
        _record("f", 3, "1.0", "644", "", "/same")
        + _record("f", 3, "1.0", "644", "", "/touched")
        + _record("f", 3, "1.0", "644", "", "/chmod")
        + _record("l", 1, "1.0", "777", "/a", "/link")
        + _record("d", 4096, "1.0", "755", "", "/dir")
        + _record("f", 3, "1.0", "644", "", "/gone")
    )
    after = _parse_find(
        _record("f", 3, "1.0", "644", "", "/same")
        + _record("f", 3, "2.0", "644", "", "/touched")
        + _record("f", 3, "1.0", "600", "", "/chmod")
        + _record("l", 1, "1.0", "777", "/b", "/link")
        + _record("d", 4096, "9.0", "755", "", "/dir")  # a directory's mtime alone is no change
        + _record("f", 5, "1.0", "644", "", "/new")
    )
    changes = {c.path: c.change for c in _compare(base, after)}
    assert changes == {
        "/touched": "changed",
        "/chmod": "changed",
        "/link": "changed",
        "/gone": "removed",
        "/new": "added",
    }


@pytest.mark.parametrize("under", ["relative", "/a/../etc", "/a\0b"])
def test_the_directory_to_list_must_be_absolute_and_plain(under):
    with pytest.raises(BadRequest):
        _check_under(under)
