"""bench/bench_fleet.py: alternated rounds summed up as medians with the rounds' spread, and a
scaled-down run measuring every row."""

import pytest

from bench import bench_fleet
from bench.bench_fleet import paired_rounds_row


def test_paired_rounds_give_medians_and_the_median_of_the_rounds_ratios():
    row = paired_rounds_row("first rows", app=[0.30, 0.10, 0.20, 0.90], bare=[0.10, 0.10, 0.20, 0.30])
    assert row["value"] == pytest.approx(0.25) and row["baseline"] == pytest.approx(0.15)
    assert row["ratio"] == pytest.approx(2.0)  # ratios 3, 1, 1, 3: not 0.25 / 0.15
    assert row["name"] == "first rows; medians of 4 alternated rounds, ratio the rounds' median (1.00-3.00x)"
    assert row["unit"] == "s"


@pytest.mark.parametrize(("app", "bare"), [([0.2, None], [0.1, 0.1]), ([0.2, 0.3], [None, 0.1]), ([], [])])
def test_a_round_that_got_nowhere_makes_the_row_say_so(app, bare):
    row = paired_rounds_row("first rows", app, bare)
    assert row["value"] is None and row["ratio"] is None
    assert row["name"] == f"first rows: not reached within {bench_fleet.GIVE_UP:g} s in every round"


def test_scaled_down_run_measures_every_row():
    rows = bench_fleet.fleet_rows(200, rate=400.0, rounds=2)
    names = [row["name"] for row in rows]
    assert len(rows) == 5, names
    first, findable, share_429, lineage, second_start = rows
    for row in (first, findable):
        assert "medians of 2 alternated rounds" in row["name"], row
        assert row["value"] > 0 and row["baseline"] > 0 and row["ratio"] > 0, row
    assert 0 <= share_429["value"] < 100
    assert lineage["value"] >= lineage["baseline"] == 0.5
    assert second_start["value"] == 0  # the lineage came from the cache the first start filled
