"""`vmtui config`: where the config file is, and the resolved settings with secrets redacted."""

from __future__ import annotations

import argparse
import sys

from vmtui.config import ConfigError, load_settings, redacted_dump
from vmtui.paths import config_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show the config file path and the resolved configuration (secrets redacted)",
        description="Show the config file path and the resolved configuration: the file, VMTUI_* "
        "environment variables, VERS_API_KEY / VERS_BASE_URL / VERS_URL / ~/.versrc and defaults "
        "merged. Secrets are shown as ********.",
    )
    parser.add_argument("--path", action="store_true", help="print only the config file path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.path:
        print(config_file())
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"vmtui: config error: {exc}", file=sys.stderr)
        return 1
    found = "exists" if settings.config_path.is_file() else "not found; using defaults"
    print(f"# config file: {settings.config_path} ({found})")
    print(redacted_dump(settings), end="")
    return 0
