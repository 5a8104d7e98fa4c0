"""vmtui benchmarks. `python -m bench` (`make bench`) runs every `bench/bench_*.py` module.

Each module exposes `run() -> list[dict]`, one dict per measurement:
`{"name": str, "value": float, "unit": str, "baseline": float | None, "ratio": float | None}`,
where the baseline is measured in the same run on the same machine, so ratios compare across machines.
"""
