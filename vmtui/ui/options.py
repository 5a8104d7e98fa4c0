"""AppOptions: everything the UI takes from the settings, built once and handed to the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vmtui.config import PollSettings
from vmtui.services.checkpoints import CheckpointPolicy


@dataclass
class AppOptions:
    """Explicit, so tests and screenshots can pin every value."""

    active_profile: str = "local"
    """The profile new VMs and the images screen use (the palette changes it)."""
    ascii: bool = False
    theme: str = "textual-dark"
    keymap: dict[str, str] = field(default_factory=dict)
    poll: PollSettings = field(default_factory=PollSettings)
    read_only: bool = False
    scrollback: int = 10_000
    ssh_keepalive: int = 10
    checkpoint: CheckpointPolicy = "ask"
    """Before a delete: always / ask (a checkbox in the question) / never take a checkpoint commit."""
    checkpoint_keep: int = 5
    action_log_dir: Path | None = None
    """Where each session's action log is kept (and exported); None keeps it in memory only."""
    engine_logs: dict[str, Path] = field(default_factory=dict)
    """Profile -> the log file of its local engine (the logs view); remote profiles have none."""
    now: Callable[[], float] = time.time
    """Wall clock for ages; tests pin it."""
