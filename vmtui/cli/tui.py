"""`vmtui` (no command) / `vmtui tui`: the full-screen UI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmtui.config import ConfigError, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tui", help="the terminal UI (the default command)", description="Keyboard-driven UI for your VMs."
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="profile(s) to show; repeat or comma-separate for several (default: the active one)",
    )
    parser.add_argument("--ascii", action="store_true", default=None, help="ASCII glyphs only")
    parser.add_argument("--state-dir", type=Path, help="local engine state directory (local profile)")
    parser.add_argument("--read-only", action="store_true", help="disable every action that changes a VM")
    parser.add_argument("--theme", help="Textual theme name (e.g. textual-light)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vmtui import paths
    from vmtui.services.registry import Registry
    from vmtui.ui.app import VmTuiApp
    from vmtui.ui.options import AppOptions

    try:
        settings = load_settings()
        if args.state_dir is not None:
            local = settings.profiles["local"]
            settings.profiles["local"] = local.model_copy(update={"state_dir": args.state_dir.expanduser()})
        registry = Registry(settings)
        names = registry.shown_profiles(args.profile)
    except (ConfigError, KeyError) as exc:
        print(f"vmtui: {exc}", file=sys.stderr)
        return 2
    options = AppOptions(
        active_profile=names[0],
        ascii=settings.ui.ascii if args.ascii is None else True,
        theme=args.theme or settings.ui.theme,
        keymap=dict(settings.ui.keymap),
        poll=settings.poll,
        read_only=args.read_only,
        scrollback=settings.ui.scrollback,
        ssh_keepalive=settings.ssh.keepalive_interval,
        action_log_dir=paths.state_dir() / "action-log",
        checkpoint=settings.ui.checkpoint,
        checkpoint_keep=settings.ui.checkpoint_keep,
    )
    # every enabled profile can be added from the palette; the chosen ones are shown now
    profiles = list(dict.fromkeys([*names, *registry.enabled_profiles()]))
    options.engine_logs = registry.engine_logs(profiles)
    openers = registry.openers(profiles)
    VmTuiApp(openers, options, shown=names).run()
    return 0
