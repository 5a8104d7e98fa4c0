"""`python -m tools.keytable`: the key binding table (Markdown) generated from the bindings
themselves, for the README; ids are what `[ui] keymap` in the config file remaps."""

from __future__ import annotations

from textual.binding import Binding

from vmtui.ui.app import VmTuiApp
from vmtui.ui.screens.action_log import ActionLogScreen
from vmtui.ui.screens.describe import DescribeScreen
from vmtui.ui.screens.file_diff import FileDiffScreen
from vmtui.ui.screens.files import FilesScreen
from vmtui.ui.screens.images import ImagesScreen
from vmtui.ui.screens.labels import LabelsScreen
from vmtui.ui.screens.lineage_graph import LineageGraphScreen
from vmtui.ui.screens.logs import LogsScreen
from vmtui.ui.screens.main import MainScreen
from vmtui.ui.screens.tags import TagsScreen
from vmtui.ui.screens.text_view import TextViewScreen
from vmtui.ui.widgets.terminal_pane import TerminalPane
from vmtui.ui.widgets.vm_table import VmTable

SOURCES: tuple[tuple[str, type], ...] = (
    ("main screen", MainScreen),
    ("VM list", VmTable),
    ("everywhere", VmTuiApp),
    ("images screen", ImagesScreen),
    ("tags screen", TagsScreen),
    ("branch graph", LineageGraphScreen),
    ("action log", ActionLogScreen),
    ("file diff", FileDiffScreen),
    ("labels screen", LabelsScreen),
    ("files screen", FilesScreen),
    ("describe, logs", TextViewScreen),
    ("describe", DescribeScreen),
    ("logs", LogsScreen),
    ("terminal", TerminalPane),
)


def markdown_table() -> str:
    lines = ["| key | action | where | id (for `keymap`) |", "|---|---|---|---|"]
    for where, owner in SOURCES:
        for binding in owner.BINDINGS:
            if not isinstance(binding, Binding) or not binding.id:
                continue
            keys = ", ".join(f"`{key.strip()}`" for key in binding.key.split(","))
            what = binding.description + (f" — {binding.tooltip}" if binding.tooltip else "")
            lines.append(f"| {keys} | {what.replace('|', '/')} | {where} | `{binding.id}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
