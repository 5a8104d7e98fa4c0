"""The `python -m bench` runner: discovery, table, failures, and the dated results file."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.__main__ import cpu_model, format_number, main

GOOD = """
def run():
    return [{"name": "fast thing", "value": 12.5, "unit": "ms", "baseline": 2.5, "ratio": None},
            {"name": "rate", "value": 123456, "unit": "ops/s", "baseline": None, "ratio": None}]
"""
BROKEN = "def run():\n    raise RuntimeError('engine exploded')\n"
BAD_ROWS = "def run():\n    return [{'name': 'x', 'value': 'fast'}]\n"


@pytest.fixture
def bench_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bench_good.py").write_text(GOOD)
    (package / "helper.py").write_text("raise AssertionError('not a benchmark, must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [module for module in sys.modules if module.startswith("fakebench")]:
        del sys.modules[name]


def test_runs_modules_prints_table_and_appends_dated_block(
    bench_package: Path, capsys: pytest.CaptureFixture
):
    assert main([], directory=bench_package, package="fakebench") == 0
    out = capsys.readouterr().out
    assert "fast thing" in out and "12.5" in out and "5x" in out  # ratio computed from the baseline
    assert "123,456" in out and "ops/s" in out
    results = (bench_package / ".last-run.txt").read_text()
    assert results.startswith("== 20") and "machine: " in results and "python: CPython 3." in results
    assert "fast thing" in results
    main([], directory=bench_package, package="fakebench")
    assert (bench_package / ".last-run.txt").read_text().count("== 20") == 2


def test_failing_modules_are_reported_and_others_still_run(
    bench_package: Path, capsys: pytest.CaptureFixture
):
    (bench_package / "bench_broken.py").write_text(BROKEN)
    (bench_package / "bench_rows.py").write_text(BAD_ROWS)
    assert main([], directory=bench_package, package="fakebench") == 1
    out = capsys.readouterr().out
    assert "FAILED bench_broken: RuntimeError: engine exploded (bench_broken.py:2)" in out
    assert "FAILED bench_rows: TypeError: row 'x': value must be a number" in out
    assert "fast thing" in out


def test_names_select_modules(bench_package: Path, capsys: pytest.CaptureFixture):
    (bench_package / "bench_broken.py").write_text(BROKEN)
    assert main(["good"], directory=bench_package, package="fakebench") == 0
    assert "broken" not in capsys.readouterr().out
    (bench_package / "bench_good_too.py").write_text(GOOD.replace("fast thing", "second module"))
    assert main(["good-too"], directory=bench_package, package="fakebench") == 0
    assert "second module" in (out := capsys.readouterr().out) and "fast thing" not in out
    assert main(["nothing"], directory=bench_package, package="fakebench") == 1
    assert "no bench_*.py modules match nothing" in capsys.readouterr().err


def test_cpu_model_reads_x86_and_arm_cpuinfo(tmp_path: Path):
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) 8375C\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) 8375C\n"
    )
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4\n")
    assert cpu_model(x86) == "Intel(R) Xeon(R) 8375C"
    assert cpu_model(arm) == "BCM2835"
    assert cpu_model(tmp_path / "missing") != ""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (151.742, "151.74"),
        (1.0, "1"),
        (0.05812, "0.0581"),
        (65901.3, "65,901"),
        (7, "7"),
        (0, "0"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text
