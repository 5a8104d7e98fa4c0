"""Developer tools run from a checkout (`python -m tools.NAME`); they are not part of the wheel."""
