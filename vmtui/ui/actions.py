"""The one table of user actions: each is described here once, with the flow that carries it out.

Key bindings (main screen and app), the footer, the help screen, the command palette, the keymap ids
(`[ui] keymap`, README's key table) and the "unavailable because…" reasons are all generated from
`REGISTRY`. Adding an action is one entry plus its flow (`vmtui.ui.flows`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual.binding import Binding, BindingsMap, BindingType
from textual.dom import DOMNode

from vmtui.services.availability import Needs, Requirement
from vmtui.ui import flows
from vmtui.ui.flows import ActionHost
from vmtui.ui.widgets.terminal_keys import PREFIX_COMMANDS

NO_REQUIREMENT = Requirement()


PALETTE_AREAS = ("vm", "commit", "terminal", "list", "app", "view")
"""The palette lists its entries grouped by the area before the colon, in this order."""


class Scope(enum.Enum):
    SCREEN = "screen"
    """Bound on the main screen."""
    APP = "app"
    """Bound on the app: works over dialogs too."""


@dataclass(frozen=True)
class UiAction:
    id: str
    """Stable name: the binding id that `[ui] keymap` remaps, and what the code refers to."""
    key: str | None
    """Default key(s); None for palette-only actions."""
    label: str
    """Short name in the footer and the help screen."""
    help: str
    """One sentence, the same in the help screen, the palette and the README."""
    flow: Callable[[ActionHost], object]
    """Carries the action out (may return an awaitable)."""
    palette: str | None = None
    """The palette's "area: what" title; None keeps it out of the palette."""
    requires: Requirement = NO_REQUIREMENT
    show: bool = True
    """Listed in the footer."""
    footer_rank: int = 50
    """Which hints a narrow footer keeps: the lowest ranks first (Help is 0, always kept)."""
    scope: Scope = Scope.SCREEN
    priority: bool = False
    binding_action: str | None = None
    """A Textual action the key runs directly instead of `run('<id>')` (Textual's own palette)."""

    @property
    def area(self) -> str:
        return (self.palette or "").partition(":")[0]

    def binding(self) -> Binding:
        return Binding(
            self.key or "",
            self.binding_action or f"run({self.id!r})",
            self.label,
            show=self.show,
            id=self.id,
            tooltip=self.help,
            priority=self.priority,
        )


def _vm(capability: str, *, live: bool = False, writes: bool = True) -> Requirement:
    return Requirement(Needs.VM, capability, live=live, writes=writes)


def _commit(capability: str) -> Requirement:
    return Requirement(Needs.COMMIT, capability, writes=True)


REGISTRY: tuple[UiAction, ...] = (
    UiAction(
        "pane.next", "tab", "Next pane", "Focus the next pane", lambda host: host.panes.step(1), show=False
    ),
    UiAction(
        "pane.previous",
        "shift+tab",
        "Previous pane",
        "Focus the previous pane",
        lambda host: host.panes.step(-1),
        show=False,
    ),
    UiAction("pane.vms", "1", "VMs", "Focus the VM list", lambda host: host.panes.goto(0), show=False),
    UiAction(
        "pane.lineage", "2", "Lineage", "Focus the lineage tree", lambda host: host.panes.goto(1), show=False
    ),
    UiAction(
        "pane.details", "3", "Details", "Focus the details", lambda host: host.panes.goto(2), show=False
    ),
    UiAction(
        "pane.terminal", "4", "Terminal", "Focus the terminal", lambda host: host.panes.goto(3), show=False
    ),
    UiAction(
        "pane.zoom",
        "z",
        "Zoom",
        "Maximise the focused pane (again to restore)",
        lambda host: host.panes.zoom(),
        palette="view: zoom focused pane",
        show=False,
    ),
    UiAction(
        "pane.zoom_terminal",
        "S",
        "Max terminal",
        "Maximise the terminal pane and focus it (again to restore)",
        lambda host: host.panes.zoom_terminal(),
        palette="view: maximise terminal",
        show=False,
    ),
    UiAction(
        "view.graph",
        "g",
        "Graph",
        "The lineage as a branch graph in time order (space folds, Enter selects)",
        flows.lineage_graph,
        palette="view: branch graph in time",
        show=False,
    ),
    UiAction(
        "vm.new",
        "n",
        "New",
        "Create a new root VM",
        flows.new_vm,
        palette="vm: new root VM",
        requires=Requirement(Needs.PROFILE, "can_create", writes=True),
        footer_rank=2,
    ),
    UiAction(
        "vm.branch",
        "b",
        "Branch",
        "Branch the selected VM (or the commit in the tree) into N new VMs",
        flows.branch,
        palette="vm: branch",
        requires=Requirement(Needs.TARGET, "can_branch", live=True, writes=True),
        footer_rank=5,
    ),
    UiAction(
        "vm.commit",
        "c",
        "Commit",
        "Commit the selected VM (snapshot), or every marked VM after one confirmation",
        flows.commit,
        palette="vm: commit",
        requires=_vm("can_commit", live=True),
        footer_rank=6,
    ),
    UiAction(
        "commit.restore",
        "r",
        "From commit",
        "Start a new VM from the commit selected in the tree",
        flows.restore,
        palette="commit: new VM from commit",
        requires=Requirement(Needs.COMMIT, "can_restore", writes=True),
        footer_rank=10,
    ),
    UiAction(
        "commit.branch",
        "R",
        "VMs from commit",
        "Start N new VMs from the commit selected in the tree",
        flows.vms_from_commit,
        palette="commit: N new VMs from commit",
        requires=_commit("can_restore"),
        show=False,
    ),
    UiAction(
        "commit.publish",
        "U",
        "Publish",
        "Publish the commit selected in the tree, or unpublish a public one",
        flows.publish_commit,
        palette="commit: publish / unpublish",
        requires=_commit("can_commit"),
        show=False,
    ),
    UiAction(
        "commit.edit",
        "M",
        "Edit commit",
        "Edit the name and description of the commit selected in the tree",
        flows.edit_commit,
        palette="commit: edit name and description",
        requires=_commit("can_commit"),
        show=False,
    ),
    UiAction(
        "commit.history",
        "H",
        "History",
        "The ancestry of the commit selected in the tree, up to the root",
        flows.commit_history,
        palette="commit: history (ancestry)",
        requires=Requirement(Needs.COMMIT, "can_commit"),
        show=False,
    ),
    UiAction(
        "app.tags",
        "T",
        "Tags",
        "Commit tags: list, create, move, delete, start VMs from one",
        flows.tags,
        palette="app: commit tags",
        requires=Requirement(Needs.PROFILE, "has_tags"),
        show=False,
    ),
    UiAction(
        "vm.pause",
        "p",
        "Pause/resume",
        "Pause a running VM, resume a paused one (every marked VM, if any)",
        flows.pause,
        palette="vm: pause / resume",
        requires=_vm("can_pause", live=True),
        footer_rank=7,
    ),
    UiAction(
        "vm.power",
        "P",
        "Power",
        "Start a stopped VM, stop a running one (every marked VM, if any)",
        flows.power,
        palette="vm: power: start / stop",
        requires=_vm("can_start_stop"),
        footer_rank=8,
    ),
    UiAction(
        "vm.delete",
        "D",
        "Delete",
        "Delete the selected VM, every marked VM, or the commit in the tree (asks first, naming what depends on it)",
        flows.delete,
        palette="vm: delete",
        requires=Requirement(Needs.TARGET, "can_delete", writes=True),
        footer_rank=9,
    ),
    UiAction(
        "vm.ssh",
        "s",
        "Terminal",
        "Open an SSH terminal to the selected VM (its tab if one is open); ctrl+] then Esc leaves it",
        flows.ssh,
        palette="vm: open terminal (ssh)",
        requires=_vm("has_ssh", live=True, writes=False),
        footer_rank=3,
    ),
    UiAction(
        "vm.ssh_another",
        None,
        "Another terminal",
        "Open a further SSH terminal on the selected VM even if one is open (tab `name (2)`)",
        flows.ssh_another,
        palette="vm: open another terminal",
        requires=_vm("has_ssh", live=True, writes=False),
    ),
    *(
        UiAction(
            f"terminal.{command}",
            None,
            text.capitalize(),
            f"Terminal tabs: {text} (in the terminal: ctrl+] then {key})",
            flows.terminal_command(command),
            palette=f"terminal: {text}",
            show=False,
        )
        for key, (command, text) in PREFIX_COMMANDS.items()
    ),
    UiAction(
        "vm.secrets",
        "e",
        "Secrets",
        "Environment secrets of the selected VM (Swiftor)",
        flows.secrets,
        palette="vm: secrets",
        requires=_vm("has_secrets"),
        show=False,
    ),
    UiAction(
        "vm.networking",
        "w",
        "Ports",
        "Port mappings of the selected VM (Swiftor)",
        flows.networking,
        palette="vm: port mappings",
        requires=_vm("has_networking"),
        show=False,
    ),
    UiAction(
        "vm.scratch",
        "t",
        "Scratch",
        "Throwaway copy of the selected VM (or tree commit) in a terminal tab; closing the tab deletes it",
        flows.scratch,
        palette="vm: scratch copy in a terminal",
        requires=_vm("can_branch"),
        show=False,
    ),
    UiAction(
        "vm.undo",
        "u",
        "Undo delete",
        "Restore the newest checkpoint (taken before a delete) as a new VM with the same labels",
        flows.undo,
        palette="vm: undo delete (restore newest checkpoint)",
        requires=Requirement(Needs.PROFILE, "can_restore", writes=True),
        show=False,
    ),
    UiAction(
        "vm.diff",
        "d",
        "Diff",
        "Files changed: the selected VM or tree commit against its parent commit (or the marked base)",
        flows.diff,
        palette="vm: diff files against parent commit",
        requires=Requirement(Needs.SELECTION),
        show=False,
    ),
    UiAction(
        "commit.diff_base",
        None,
        "Mark diff base",
        "Mark the commit selected in the tree: d then compares it with what you select",
        flows.mark_diff_base,
        palette="commit: mark as diff base",
        requires=Requirement(Needs.COMMIT),
    ),
    UiAction(
        "vm.exec",
        "x",
        "Exec",
        "Run a command on the selected VM without a shell; output streams in, runs are kept",
        flows.exec_command,
        palette="vm: exec a command",
        requires=_vm("has_exec", live=True),
        show=False,
    ),
    UiAction(
        "vm.broadcast",
        "X",
        "Broadcast",
        "Run one command on the marked VMs (else the selected one); identical outputs grouped",
        flows.broadcast,
        palette="vm: broadcast exec",
        requires=_vm("has_exec", live=True),
        show=False,
    ),
    UiAction(
        "vm.tunnels",
        "F",
        "Tunnels",
        "Forward a local port into the selected VM (127.0.0.1 only); list and close tunnels",
        flows.tunnels,
        palette="vm: port tunnels (ssh -L)",
        requires=_vm("has_ssh", writes=False),
    ),
    UiAction(
        "vm.rename",
        "f2",
        "Rename",
        "Rename the selected VM (its `name` label)",
        flows.rename,
        palette="vm: rename",
        requires=_vm("has_labels"),
        show=False,
    ),
    UiAction(
        "vm.labels",
        "l",
        "Labels",
        "Labels of the selected VM: set, remove one, replace all",
        flows.labels,
        palette="vm: labels",
        requires=_vm("has_labels"),
        show=False,
    ),
    UiAction(
        "vm.resize",
        "G",
        "Grow disk",
        "Grow the selected VM's disk (never shrinks)",
        flows.resize_disk,
        palette="vm: grow disk",
        requires=_vm("can_resize"),
        show=False,
    ),
    UiAction(
        "vm.files",
        "f",
        "Files",
        "Browse the selected VM's files over SFTP: download, upload",
        flows.files,
        palette="vm: files (sftp)",
        requires=_vm("has_ssh", live=True, writes=False),
        show=False,
    ),
    UiAction(
        "vm.yank",
        "y",
        "Copy id",
        "Copy the selected id to the clipboard (OSC 52)",
        flows.yank,
        palette="vm: copy id",
        requires=Requirement(Needs.SELECTION),
        show=False,
    ),
    UiAction(
        "view.describe",
        "enter",
        "Describe",
        "Everything known about the selected VM or commit, as YAML or JSON (copyable)",
        flows.describe,
        palette="view: describe selection",
        requires=Requirement(Needs.SELECTION),
        footer_rank=13,
    ),
    UiAction(
        "view.logs",
        "ctrl+l",
        "Logs",
        "The local engine's log (the VM console where the platform keeps one)",
        flows.logs,
        palette="view: logs",
        show=False,
    ),
    UiAction(
        "list.filter",
        "slash",
        "Filter",
        "Filter: text is a substring, ~text fuzzy, re:regex; state:running, label:k=v, provider:x; ! negates",
        lambda host: host.open_filter(),
        palette="list: filter",
        footer_rank=4,
    ),
    UiAction(
        "list.clear_filter",
        "escape",
        "Clear filter",
        "Remove the filter",
        lambda host: host.clear_filter(),
        palette="list: clear filter",
        show=False,
    ),
    UiAction(
        "list.mark",
        "space",
        "Mark",
        "Mark or unmark the selected VM: delete, pause, commit and power act on every marked VM",
        flows.toggle_mark,
        palette="list: mark / unmark VM",
        show=False,
    ),
    UiAction(
        "list.mark_all",
        "ctrl+a",
        "Mark all",
        "Mark every VM the filter shows",
        flows.mark_all,
        palette="list: mark all shown",
        show=False,
    ),
    UiAction(
        "list.mark_none",
        "ctrl+backslash",
        "Unmark all",
        "Remove every mark",
        flows.mark_none,
        palette="list: unmark all",
        show=False,
    ),
    UiAction(
        "list.mark_invert",
        "asterisk",
        "Invert marks",
        "Mark the shown VMs that are not marked, unmark the rest",
        flows.invert_marks,
        palette="list: invert marks",
        show=False,
    ),
    UiAction(
        "app.refresh",
        "ctrl+r",
        "Refresh",
        "Poll every profile now",
        flows.refresh,
        palette="app: refresh now",
        show=False,
    ),
    UiAction(
        "app.images",
        "i",
        "Images",
        "Root filesystem images: list, upload, delete",
        flows.images,
        palette="app: images",
        requires=Requirement(Needs.PROFILE, "has_images"),
        footer_rank=12,
    ),
    UiAction(
        "app.account",
        "W",
        "Who am I",
        "The profile's account: the key's user and org, the server's version and health",
        flows.account,
        palette="app: who am I (account, server version, health)",
        requires=Requirement(Needs.PROFILE, "has_account"),
        show=False,
    ),
    UiAction(
        "app.env",
        "E",
        "Environment",
        "Environment variables every new VM of the account gets (values masked)",
        flows.env_vars,
        palette="app: environment variables",
        requires=Requirement(Needs.PROFILE, "has_environment"),
        show=False,
    ),
    UiAction(
        "app.log",
        "L",
        "Log",
        "Every change this session made; export as vers commands or curl lines",
        flows.action_log,
        palette="app: action log",
        show=False,
    ),
    UiAction(
        "app.quit",
        "q",
        "Quit",
        "Leave vmtui (VMs keep running)",
        flows.leave,
        palette="app: quit",
        scope=Scope.APP,
        footer_rank=1,
    ),
    UiAction(
        "app.quit_now",
        "ctrl+c",
        "Quit",
        "Leave vmtui",
        flows.quit_now,
        show=False,
        scope=Scope.APP,
        priority=True,
    ),
    UiAction(
        "app.help",
        "question_mark",
        "Help",
        "Every key, from the live bindings",
        flows.show_help,
        palette="app: help (keys)",
        scope=Scope.APP,
        footer_rank=0,
    ),
    UiAction(
        "app.palette",
        "ctrl+p",
        "Palette",
        "Every action for the selection, searchable",
        flows.palette,
        scope=Scope.APP,
        binding_action="command_palette",
        footer_rank=11,
    ),
    UiAction(
        "app.theme",
        None,
        "Theme",
        "Pick a theme (light and dark ones)",
        flows.change_theme,
        palette="app: change theme",
    ),
    UiAction(
        "app.screenshot",
        None,
        "Screenshot",
        "Save an SVG of the screen",
        flows.screenshot,
        palette="app: save screenshot",
    ),
)

BY_ID: dict[str, UiAction] = {action.id: action for action in REGISTRY}


def bindings(scope: Scope, registry: Iterable[UiAction] = REGISTRY) -> list[BindingType]:
    """The key bindings of one scope, in registry order (the footer's order)."""
    return [action.binding() for action in registry if action.scope is scope and action.key]


def palette_entries(registry: Iterable[UiAction] = REGISTRY) -> list[UiAction]:
    """The palette's actions, grouped by area (`PALETTE_AREAS`), registry order within an area."""
    listed = [action for action in registry if action.palette]
    return sorted(listed, key=lambda action: PALETTE_AREAS.index(action.area))


def bind_registry(node: DOMNode, scope: Scope, registry: tuple[UiAction, ...]) -> None:
    """Give `node` the keys of `registry` when it is not the default one (whose keys the class
    BINDINGS already hold): how a test adds an action."""
    if registry is not REGISTRY:
        node._bindings = BindingsMap.merge([node._bindings, BindingsMap(bindings(scope, registry))])
