"""`python -m bench [NAME ...]`: run the benchmarks, print a table, append it to bench/.last-run.txt.

Every `bench_*.py` module next to this file is imported and its `run()` called (only the modules
whose name contains one of the NAMEs, when given). A module that raises or returns malformed rows
is reported as failed and the others still run; the exit status is 1 if any failed. The results
are appended as a dated block with the machine (`uname -m`, CPU model, Python version) to
`bench/.last-run.txt`.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_FILE_NAME = ".last-run.txt"
COLUMNS = ("module", "name", "value", "unit", "baseline", "ratio")


@dataclass
class ModuleResult:
    """The outcome of one benchmark module: its rows, or why it failed."""

    module: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def discover(directory: Path, only: list[str] | None = None) -> list[str]:
    """Names (without .py) of the `bench_*.py` modules in `directory`, sorted, filtered by `only` (a word
    may spell `_` as `-`: `terminal-paths`)."""
    names = sorted(path.stem for path in directory.glob("bench_*.py"))
    words = [word.replace("-", "_") for word in only or ()]
    return [name for name in names if not words or any(word in name for word in words)]


def run_module(package: str, name: str) -> ModuleResult:
    """Import `package.name` and call its `run()`; any failure is captured, never raised."""
    started = time.perf_counter()
    result = ModuleResult(module=name)
    try:
        module = importlib.import_module(f"{package}.{name}")
        rows = module.run()
        result.rows = [_checked_row(row) for row in _checked_list(rows)]
    except Exception as exc:  # noqa: BLE001 - a broken benchmark must not stop the others
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        result.error = f"{type(exc).__name__}: {exc}{where}"
    result.seconds = time.perf_counter() - started
    return result


def _checked_list(rows: Any) -> list[Any]:
    if not isinstance(rows, list):
        raise TypeError(f"run() returned {type(rows).__name__}, expected a list of dicts")
    return rows


def _checked_row(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict) or not isinstance(row.get("name"), str):
        raise TypeError(f"malformed row {row!r}: need a dict with a 'name'")
    for key in ("value", "baseline", "ratio"):
        value = row.get(key)
        if value is not None and (not isinstance(value, Real) or isinstance(value, bool)):
            raise TypeError(f"row {row['name']!r}: {key} must be a number, got {value!r}")
    row = dict(row)
    if row.get("ratio") is None and row.get("value") is not None and row.get("baseline"):
        row["ratio"] = row["value"] / row["baseline"]
    return row


def format_number(value: Any) -> str:
    """Numbers short and readable: 12,345 / 12.35 / 0.001234; blanks for missing values."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return f"{value:.3g}"


def format_table(results: list[ModuleResult]) -> str:
    """A plain-text table of every row, then one line per failed module."""
    table = [list(COLUMNS)]
    for result in results:
        for row in result.rows:
            ratio = row.get("ratio")
            table.append(
                [
                    result.module,
                    row["name"],
                    format_number(row.get("value")),
                    str(row.get("unit", "")),
                    format_number(row.get("baseline")),
                    "-" if ratio is None else f"{format_number(ratio)}x",
                ]
            )
    widths = [max(len(line[column]) for line in table) for column in range(len(COLUMNS))]
    numeric = {2, 4, 5}
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(line)
        ).rstrip()
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += [f"FAILED {result.module}: {result.error}" for result in results if result.error]
    return "\n".join(lines)


def machine_description() -> str:
    """`uname -m`, the CPU model from /proc/cpuinfo, the core count and the Python version."""
    return (
        f"machine: {os.uname().machine}; cpu: {cpu_model()} ({os.cpu_count()} cores); "
        f"python: {platform.python_implementation()} {platform.python_version()}"
    )


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first `model name` (x86) or `Hardware`/`Model` (ARM) entry; `unknown` without /proc."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    lines = [line.partition(":") for line in text.splitlines()]
    for wanted in ("model name", "Hardware", "Model"):
        for key, _, value in lines:
            if key.strip() == wanted and value.strip():
                return value.strip()
    return "unknown"


def append_results(path: Path, table: str, started: datetime.datetime) -> None:
    block = f"== {started.isoformat(timespec='seconds')} ==\n{machine_description()}\n{table}\n\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(block)


def main(argv: list[str] | None = None, *, directory: Path = BENCH_DIR, package: str = "bench") -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only modules whose name contains one of these")
    args = parser.parse_args(argv)
    modules = discover(directory, args.names)
    if not modules:
        print(
            f"no bench_*.py modules{' match ' + ' '.join(args.names) if args.names else ''} in {directory}",
            file=sys.stderr,
        )
        return 1
    started = datetime.datetime.now(datetime.UTC)
    print(machine_description(), flush=True)
    results = []
    for name in modules:
        print(f"running {name} ...", end=" ", flush=True)
        result = run_module(package, name)
        print(f"{'failed' if result.error else 'done'} in {result.seconds:.1f}s", flush=True)
        results.append(result)
    table = format_table(results)
    print()
    print(table)
    append_results(directory / RESULTS_FILE_NAME, table, started)
    print(f"\nappended to {directory / RESULTS_FILE_NAME}")
    return 1 if any(result.error for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
