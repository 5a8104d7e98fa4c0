"""MainScreen: the four panes, live polling per profile, and every VM action one key away.

Data flows down as attributes (the screen hands each pane what it shows) and up as messages
(panes report highlights; pollers post FleetUpdated). Actions run as workers through
`vmtui.services.actions.Actions`; the row shows a badge in the same frame and the result ends
in a notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.events import Key, Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static
from textual.worker import Worker

from vmtui.core.errors import ProviderError
from vmtui.core.models import Commit, Fleet, Vm, VmState
from vmtui.paths import state_dir
from vmtui.providers.base import Provider
from vmtui.providers.swiftor import SwiftorProvider
from vmtui.services.actions import ACTIONS, Actions, Outcome, PendingKey, Target, dependants
from vmtui.services.filter import FilterError, VmFilter, parse_filter
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.lineage_fetch import LineageEnrichment
from vmtui.services.poller import Poller, PollResult
from vmtui.services.ssh import SshSession
from vmtui.ui.commands import VmCommands
from vmtui.ui.format import clean, format_age
from vmtui.ui.messages import FleetUpdated, ProfileConnecting
from vmtui.ui.screens.branch import BranchScreen
from vmtui.ui.screens.commit import CommitRequest, CommitScreen
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.screens.confirm_typed_delete import ConfirmTypedDeleteScreen
from vmtui.ui.screens.create_vm import CreateRequest, CreateVmScreen
from vmtui.ui.screens.help import HelpScreen
from vmtui.ui.screens.images import ImagesScreen
from vmtui.ui.screens.networking import DESKTOP_PORT, NetworkingScreen
from vmtui.ui.screens.progress import ProgressScreen
from vmtui.ui.screens.secrets import SecretsScreen
from vmtui.ui.screens.swiftor_create import SwiftorCreateScreen
from vmtui.ui.terminal.ssh_transport import ssh_transport_factory
from vmtui.ui.widgets.lineage_tree import LineageTree
from vmtui.ui.widgets.status_bar import StatusBar
from vmtui.ui.widgets.terminal_tabs import TerminalTabs
from vmtui.ui.widgets.vm_details import VmDetails
from vmtui.ui.widgets.vm_table import VmTable

if TYPE_CHECKING:
    from vmtui.ui.app import VmTuiApp

Opener = Callable[[Callable[[str], None]], Awaitable[Provider]]
"""Opens one profile's provider (may start the local engine); reports progress through its argument and
raises ProviderError with a user-facing message when it cannot."""

NARROW_WIDTH = 100
PANE_IDS = ("vm-table", "lineage-tree", "details", "terminal-area")

# action name on this screen -> (ACTIONS entry, what it needs selected)
_SCREEN_ACTIONS = {
    "new_vm": "create",
    "branch": "branch",
    "commit": "commit",
    "restore": "restore",
    "pause": "pause",
    "power": "start_stop",
    "delete": "delete",
    "images": "images",
    "ssh": "ssh",
    "secrets": "secrets",
    "networking": "networking",
}


class TerminalArea(Container):
    """Where the SSH terminal pane is mounted; shows how to get one until then."""

    can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                "No terminal open. Press s on a running VM to open an SSH terminal here "
                "(ctrl+] leaves it); from a shell: vmtui ssh <vm-id>",
                style="dim italic",
            ),
            id="terminal-hint",
        )

    def focus_terminal(self) -> bool:
        """Put keyboard focus inside the active terminal (so typing reaches the shell); False if none."""
        tabs = next(iter(self.query(TerminalTabs)), None)
        return tabs is not None and tabs.focus_active()


class MainScreen(Screen[None]):
    COMMANDS: ClassVar[set] = {VmCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "tab", "focus_pane(1)", "Next pane", show=False, id="pane.next", tooltip="Focus the next pane"
        ),
        Binding(
            "shift+tab",
            "focus_pane(-1)",
            "Previous pane",
            show=False,
            id="pane.previous",
            tooltip="Focus the previous pane",
        ),
        Binding("1", "goto_pane(0)", "VMs", show=False, id="pane.vms", tooltip="Focus the VM list"),
        Binding(
            "2", "goto_pane(1)", "Lineage", show=False, id="pane.lineage", tooltip="Focus the lineage tree"
        ),
        Binding("3", "goto_pane(2)", "Details", show=False, id="pane.details", tooltip="Focus the details"),
        Binding(
            "4", "goto_pane(3)", "Terminal", show=False, id="pane.terminal", tooltip="Focus the terminal"
        ),
        Binding(
            "z",
            "zoom",
            "Zoom",
            show=False,
            id="pane.zoom",
            tooltip="Maximise the focused pane (again to restore)",
        ),
        Binding(
            "S",
            "zoom_terminal",
            "Max terminal",
            show=False,
            id="pane.zoom_terminal",
            tooltip="Maximise the terminal pane and focus it (again to restore)",
        ),
        Binding("n", "new_vm", "New", id="vm.new", tooltip="Create a new root VM"),
        Binding("b", "branch", "Branch", id="vm.branch", tooltip="Branch the selected VM into N new VMs"),
        Binding("c", "commit", "Commit", id="vm.commit", tooltip="Commit the selected VM (snapshot)"),
        Binding(
            "r",
            "restore",
            "From commit",
            id="commit.restore",
            tooltip="Start a new VM from the commit selected in the tree",
        ),
        Binding(
            "p", "pause", "Pause/resume", id="vm.pause", tooltip="Pause a running VM, resume a paused one"
        ),
        Binding("P", "power", "Power", id="vm.power", tooltip="Start a stopped VM, stop a running one"),
        Binding("D", "delete", "Delete", id="vm.delete", tooltip="Delete the selected VM (asks first)"),
        Binding(
            "s",
            "ssh",
            "Terminal",
            id="vm.ssh",
            tooltip="Open an SSH terminal to the selected VM in the terminal pane (ctrl+] leaves it)",
        ),
        Binding(
            "e",
            "secrets",
            "Secrets",
            show=False,
            id="vm.secrets",
            tooltip="Environment secrets of the selected VM (Swiftor)",
        ),
        Binding(
            "w",
            "networking",
            "Ports",
            show=False,
            id="vm.networking",
            tooltip="Port mappings of the selected VM (Swiftor)",
        ),
        Binding(
            "y",
            "yank",
            "Copy id",
            show=False,
            id="vm.yank",
            tooltip="Copy the selected id to the clipboard (OSC 52)",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            id="list.filter",
            tooltip="Filter: text, state:running, label:k=v, provider:x, ! negates",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="list.clear_filter",
            tooltip="Remove the filter",
        ),
        Binding(
            "ctrl+r", "refresh", "Refresh", show=False, id="app.refresh", tooltip="Poll every profile now"
        ),
        Binding(
            "i", "images", "Images", id="app.images", tooltip="Root filesystem images: list, upload, delete"
        ),
    ]

    def __init__(
        self, actions: Actions, openers: dict[str, Opener], shown: list[str] | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.actions = actions
        self.openers = openers
        """Every profile that can be shown; `shown` are the ones polled and listed now."""
        self.shown: list[str] = [name for name in (shown or list(openers)) if name in openers]
        self.pollers: dict[str, Poller] = {}
        self.results: dict[str, PollResult] = {}
        self.connecting: dict[str, str] = {name: "connecting…" for name in self.shown}
        self._poll_workers: dict[str, Worker] = {}
        self.last_errors: dict[PendingKey, str] = {}
        self._banner_text: str | None = None
        self._select_when_listed: PendingKey | None = None
        """A VM just created here: the cursor moves to it as soon as a poll lists it."""
        self.vm_filter = VmFilter()

    @property
    def vmtui(self) -> VmTuiApp:
        return self.app  # type: ignore[return-value]

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        options = self.vmtui.options
        yield Static("", id="banner")
        with Horizontal(id="top"):
            with Vertical(id="list-pane", classes="pane"):
                yield Input(placeholder="filter: text  state:running  label:k=v  !negate", id="filter-input")
                yield Static("", id="filter-error")
                yield VmTable(ascii_only=options.ascii, now=options.now, id="vm-table")
                yield Static("", id="empty-hint")
            with Vertical(id="side"):
                yield LineageTree(ascii_only=options.ascii, id="lineage-tree", classes="pane")
                yield VmDetails(now=options.now, id="details", classes="pane")
        yield TerminalArea(id="terminal-area", classes="pane")
        yield StatusBar(now=options.now, ascii_only=options.ascii, id="status-bar")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        titles = ("1 VMs", "2 Lineage", "3 Details", "4 Terminal")
        for pane_id, title in zip(
            ("list-pane", "lineage-tree", "details", "terminal-area"), titles, strict=True
        ):
            self.query_one(f"#{pane_id}").border_title = title
        self.query_one(VmTable).focus()
        for name in self.shown:
            self._poll_workers[name] = self._poll(name)
        self.set_interval(1.0, self._refresh_status)
        self._refresh_status()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    @property
    def table(self) -> VmTable:
        return self.query_one(VmTable)

    @property
    def lineage(self) -> LineageTree:
        return self.query_one(LineageTree)

    # ---------------------------------------------------------------- polling

    @work(group="poll", exit_on_error=False)
    async def _poll(self, name: str) -> None:
        """Open the profile (starting the local engine if needed), then poll it until the screen closes."""
        poll = self.vmtui.options.poll
        provider = await self._open(name, poll.max_backoff)
        self.actions.providers[name] = provider
        poller = Poller(
            provider,
            lambda result: self.post_message(FleetUpdated(result)),
            fast=poll.fast,
            slow=poll.slow,
            max_backoff=poll.max_backoff,
            enrichment=LineageEnrichment.for_provider(provider),
            busy=lambda: self.actions.busy(name),
            wall_clock=self.vmtui.options.now,
        )
        self.pollers[name] = poller
        self.connecting.pop(name, None)
        self.last_errors.pop((name, ""), None)
        await poller.run()

    async def _open(self, name: str, max_wait: float) -> Provider:
        """Open a profile, retrying with backoff; failures show in the banner, never crash the app."""
        wait = 1.0
        while True:
            try:
                return await self.openers[name](
                    lambda status: self.post_message(ProfileConnecting(name, status))
                )
            except ProviderError as exc:
                self.post_message(ProfileConnecting(name, None, f"cannot open: {exc}"))
            except Exception as exc:  # noqa: BLE001 - e.g. an OSError starting the engine: show it, keep trying
                self.post_message(ProfileConnecting(name, None, f"cannot open: {type(exc).__name__}: {exc}"))
            await asyncio.sleep(wait)
            wait = min(max_wait, wait * 2)

    def show_profile(self, name: str) -> None:
        """Add a profile's VMs to the list (it is opened and polled from now on)."""
        if name in self.shown or name not in self.openers:
            return
        self.shown.append(name)
        self.connecting[name] = "connecting…"
        self._poll_workers[name] = self._poll(name)
        self.notify(f"Showing profile {clean(name, 40)}", timeout=3, markup=False)
        self._refresh_status()

    def hide_profile(self, name: str) -> None:
        """Stop polling a profile and drop its rows; the last shown profile stays."""
        if name not in self.shown or len(self.shown) == 1:
            return
        self.shown.remove(name)
        worker = self._poll_workers.pop(name, None)
        if worker is not None:
            worker.cancel()
        for table in (self.pollers, self.results, self.connecting):
            table.pop(name, None)
        self._apply_fleets()
        self.notify(f"Hid profile {clean(name, 40)}", timeout=3, markup=False)

    @on(ProfileConnecting)
    def _profile_connecting(self, message: ProfileConnecting) -> None:
        if message.profile not in self.shown:
            return
        self.connecting[message.profile] = message.error or message.status or "connecting…"
        if message.error:
            self.last_errors[(message.profile, "")] = message.error
        self._refresh_status()

    @on(FleetUpdated)
    def _fleet_updated(self, message: FleetUpdated) -> None:
        result = message.result
        if result.provider not in self.shown:
            return  # a late result of a profile just hidden
        previous = self.results.get(result.provider)
        self.results[result.provider] = result
        self.connecting.pop(result.provider, None)
        old, new = previous.fleet if previous else None, result.fleet
        if old is not None and new is not None and old.vms is new.vms and old.commits is new.commits:
            self._refresh_status()  # unchanged: the poller handed on the same tuples
            return
        self._apply_fleets()
        self._prioritize_lineage()

    def _prioritize_lineage(self) -> None:
        """The lineage stream fetches the selected VM first, then the rows on screen."""
        wanted = [key for key in (self.table.selected_key, *self.table.visible_keys()) if key is not None]
        for name, poller in self.pollers.items():
            if poller.enrichment is not None and not poller.enrichment.complete:
                poller.enrichment.prioritize([vm_id for profile, vm_id in wanted if profile == name])

    def _apply_fleets(self) -> None:
        fleets = self.fleets()
        with self.app.batch_update():
            self.table.set_fleet(vm for fleet in fleets for vm in fleet.vms)
            if self._select_when_listed is not None and self.table.select(self._select_when_listed):
                self._select_when_listed = None
            self.lineage.set_fleets(fleets)
            self._show_details()
            self._refresh_status()
            self._update_empty_hint()

    def _update_empty_hint(self) -> None:
        """Say why the list is empty (no VMs yet, or none matching the filter) instead of a blank pane."""
        hint = self.query_one("#empty-hint", Static)
        text = ""
        if self.table.row_count == 0 and self.fleets():
            text = (
                "No VM matches the filter (Esc clears it)."
                if self.table.vms
                else "No VMs yet. Press n to create one."
            )
        hint.update(text)
        hint.set_class(bool(text), "-visible")

    def fleets(self) -> list[Fleet]:
        return [r.fleet for r in self.results.values() if r.fleet is not None]

    def _refresh_status(self) -> None:
        self.query_one(StatusBar).refresh_status(
            connecting=self.connecting,
            results=self.results,
            pending=self.actions.pending,
            filter_text=self.vm_filter.text,
        )
        stale = [r for r in self.results.values() if r.stale]
        failed = {name: text for name, text in self.connecting.items() if (name, "") in self.last_errors}
        banner = self.query_one("#banner", Static)
        lines = []
        for result in stale:
            age = result.age(self.vmtui.options.now())
            shown = f"showing data from {format_age(age)} ago" if age is not None else "no data yet"
            lines.append(
                f"{'!' if self.vmtui.options.ascii else '⚠'} {clean(result.provider, 30)}: "
                f"{clean(result.error, 200)} · {shown} · retrying in the background"
            )
        for name, text in failed.items():
            lines.append(f"{'!' if self.vmtui.options.ascii else '⚠'} {clean(name, 30)}: {clean(text, 200)}")
        text = "\n".join(lines)
        if text != self._banner_text:  # refreshed every second: relayout only on a change
            self._banner_text = text
            banner.update(text)
            banner.set_class(bool(lines), "-visible")

    def pending_changed(self) -> None:
        """Actions started or finished: badges, status, and fast polling of the affected profiles."""
        self.table.set_pending(self.actions.pending)
        self._refresh_status()
        self._show_details()
        for profile, _ in self.actions.pending:
            poller = self.pollers.get(profile)
            if poller is not None:
                poller.wake()

    # ---------------------------------------------------------------- selection

    @on(VmTable.VmHighlighted)
    def _vm_highlighted(self, message: VmTable.VmHighlighted) -> None:
        self.lineage.mark_here(message.key)
        self._show_details()
        self._prioritize_lineage()

    @on(LineageTree.ItemHighlighted)
    def _tree_highlighted(self, message: LineageTree.ItemHighlighted) -> None:
        if self.lineage.has_focus:
            self._show_details(message.item)
            if isinstance(message.item, Vm):
                self.table.select(message.item.key)

    def selected_vm(self) -> Vm | None:
        if self.lineage.has_focus:
            item = self.lineage.selected_item()
            if isinstance(item, Vm):
                return item
        return self.table.selected_vm

    def selected_commit(self) -> Commit | None:
        item = self.lineage.selected_item()
        return item if isinstance(item, Commit) else None

    def _show_details(self, item: Vm | Commit | None = None) -> None:
        if item is None:
            item = self.lineage.selected_item() if self.lineage.has_focus else self.table.selected_vm
        details = self.query_one(VmDetails)
        if item is None:
            details.show(None)
            return
        provider = self.actions.providers.get(item.provider)
        pending = self.actions.pending.get(item.key) if isinstance(item, Vm) else None
        error = self.last_errors.get(item.key) or self.last_errors.get((item.provider, ""))
        result = self.results.get(item.provider)
        if error is None and result is not None and result.error is not None:
            error = str(result.error)
        reach: list[tuple[str, str]] = []
        if isinstance(item, Vm) and isinstance(provider, SwiftorProvider):
            reach = [
                ("desktop", provider.desktop_url(item.id)),
                ("default port", f"{DESKTOP_PORT} (desktop, inside the VM)"),
            ]
        details.show(
            item,
            capabilities=provider.capabilities if provider else None,
            provider_kind=provider.kind if provider else "",
            pending=pending,
            last_error=error,
            reach=reach,
        )

    # ---------------------------------------------------------------- action availability

    def default_profile(self) -> str:
        active = self.vmtui.options.active_profile
        return active if active in self.shown else next(iter(self.shown), active)

    def unavailable(self, action: str) -> str | None:
        """Why a screen action can't run for the current selection, or None."""
        if action == "yank":
            return None if self.selected_vm() or self.selected_commit() else "nothing selected"
        name = _SCREEN_ACTIONS.get(action)
        if name is None:
            return None
        if self.vmtui.options.read_only and name not in ("images", "ssh"):
            return "read-only mode"
        spec = ACTIONS[name]
        if spec.target is Target.PROFILE:
            return self.actions.unavailable(name, self.default_profile())
        if spec.target is Target.COMMIT:
            commit = self.selected_commit()
            return (
                "select a commit in the tree (2)"
                if commit is None
                else self.actions.unavailable(name, commit.provider)
            )
        vm = self.selected_vm()
        return "no VM selected" if vm is None else self.actions.unavailable(name, vm.provider, vm)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _SCREEN_ACTIONS or action == "yank":
            return None if self.unavailable(action) else True
        return True

    def on_key(self, event: Key) -> None:
        """A key of an action that can't run now says why: Textual would drop the press silently."""
        active = self.active_bindings.get(event.key)  # what the key does now, keymap applied
        if active is None or active.enabled or active.node is not self:
            return
        if active.binding.action in _SCREEN_ACTIONS or active.binding.action == "yank":
            self._refuse(active.binding.action)
            event.stop()
            event.prevent_default()

    def unavailable_reasons(self) -> dict[str, str]:
        return {
            action: reason for action in [*_SCREEN_ACTIONS, "yank"] if (reason := self.unavailable(action))
        }

    # ---------------------------------------------------------------- panes

    def _panes(self) -> list[Widget]:
        return [self.query_one(f"#{pane_id}") for pane_id in PANE_IDS]

    def action_focus_pane(self, step: int) -> None:
        panes = self._panes()
        current = next(
            (
                i
                for i, p in enumerate(panes)
                if self.focused is p or (self.focused is not None and p in self.focused.ancestors)
            ),
            -1,
        )
        self._focus(panes[(current + step) % len(panes)])

    def action_goto_pane(self, index: int) -> None:
        self._focus(self._panes()[index])

    def _focus(self, pane: Widget) -> None:
        if self.maximized is not None:
            self.minimize()
        if isinstance(pane, TerminalArea) and pane.focus_terminal():
            return
        focus_target = next((w for w in pane.query("*") if w.focusable), None) if not pane.focusable else pane
        (focus_target or pane).focus()

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        pane = next(
            (
                p
                for p in self._panes()
                if self.focused is p or (self.focused is not None and p in self.focused.ancestors)
            ),
            None,
        )
        if pane is not None:
            self.maximize(pane, container=False)

    def action_zoom_terminal(self) -> None:
        area = self.query_one(TerminalArea)
        if self.maximized is area:
            self.minimize()
            return
        if self.maximized is not None:
            self.minimize()
        self.maximize(area, container=False)
        if not area.focus_terminal():
            area.focus()

    # ---------------------------------------------------------------- filter

    def action_filter(self) -> None:
        box = self.query_one("#filter-input", Input)
        box.add_class("-visible")
        box.focus()

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        error_box = self.query_one("#filter-error", Static)
        try:
            self.vm_filter = parse_filter(event.value)
        except FilterError as exc:
            event.input.add_class("-invalid")
            error_box.update(str(exc))
            error_box.add_class("-visible")
            return
        event.input.remove_class("-invalid")
        error_box.remove_class("-visible")
        self.table.set_filter(self.vm_filter)
        self._update_empty_hint()
        self._refresh_status()

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self) -> None:
        if not self.vm_filter.active:
            self.query_one("#filter-input", Input).remove_class("-visible")
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter-input", Input)
        if not box.has_class("-visible") and not self.vm_filter.active:
            return
        box.value = ""
        box.remove_class("-visible", "-invalid")
        self.query_one("#filter-error", Static).remove_class("-visible")
        self.vm_filter = VmFilter()
        self.table.set_filter(self.vm_filter)
        self._update_empty_hint()
        self.table.focus()
        self._refresh_status()

    # ---------------------------------------------------------------- actions

    def _start(
        self,
        key: PendingKey,
        verb: str,
        title: str,
        run: Callable[[], Awaitable[Outcome]],
        on_done: Callable[[Outcome | None], None] | None = None,
    ) -> None:
        """Badge now (same frame), then run the action as a worker and notify the result."""
        self.actions.mark(key, verb)
        self.run_worker(self._run_action(key, title, run, on_done), group="actions", exit_on_error=False)

    async def _run_action(
        self,
        key: PendingKey,
        title: str,
        run: Callable[[], Awaitable[Outcome]],
        on_done: Callable[[Outcome | None], None] | None,
    ) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await run()
        except ProviderError as exc:
            self.last_errors[key] = str(exc)
            self.notify(clean(exc, 500), title=f"{title} failed", severity="error", timeout=8, markup=False)
        except Exception as exc:  # noqa: BLE001 - a bug must surface as a message, not kill the app or vanish
            self.last_errors[key] = f"{type(exc).__name__}: {exc}"
            self.notify(
                clean(self.last_errors[key], 500),
                title=f"{title} failed unexpectedly",
                severity="error",
                timeout=8,
                markup=False,
            )
        else:
            self.last_errors.pop(key, None)
            self.notify(clean(outcome.message, 500), title=title, markup=False)
        finally:
            self.actions.pending.pop(key, None)
            self.pending_changed()
            poller = self.pollers.get(key[0])
            if poller is not None:
                poller.wake()
        if on_done is not None:
            on_done(outcome)

    def _refuse(self, action: str) -> bool:
        reason = self.unavailable(action)
        if reason:
            self.notify(reason, title="Not available", severity="warning", markup=False)
        return reason is not None

    def action_new_vm(self) -> None:
        if self._refuse("new_vm"):
            return
        profile = self.default_profile()
        provider = self.actions.providers[profile]
        if isinstance(provider, SwiftorProvider):  # desktops have their own form, which sends itself
            self.app.push_screen(
                SwiftorCreateScreen(provider), lambda sent: self._swiftor_created(profile, sent)
            )
            return
        loader = (lambda: self.actions.list_images(profile)) if provider.capabilities.has_images else None

        def create(request: CreateRequest | None) -> None:
            if request is not None:
                self._start(
                    (profile, ""),
                    "creating",
                    "New VM",
                    lambda: self.actions.create(profile, request.config, wait_boot=request.wait_boot),
                    partial(self._select_new_vm, profile),
                )

        self.app.push_screen(CreateVmScreen(profile, loader), create)

    def action_branch(self) -> None:
        vm = self.selected_vm()
        if self._refuse("branch") or vm is None:
            return

        def branch(count: int | None) -> None:
            if count is None:
                return
            if count == 1:
                self._start(vm.key, "branching", "Branch", lambda: self.actions.branch(vm, 1))
                return
            progress = ProgressScreen(
                f"Branching {clean(vm.display_name, 50)} into {count} VMs",
                count,
                ascii_only=self.vmtui.options.ascii,
            )
            self.app.push_screen(progress)
            self._start(
                vm.key,
                "branching",
                "Branch",
                lambda: self.actions.branch(vm, count, progress.update_vm),
                lambda outcome: progress.finish(outcome.message if outcome else "failed"),
            )

        self.app.push_screen(BranchScreen(vm), branch)

    def action_commit(self) -> None:
        vm = self.selected_vm()
        if self._refuse("commit") or vm is None:
            return

        def commit(request: CommitRequest | None) -> None:
            if request is not None:
                self._start(
                    vm.key,
                    "committing",
                    "Commit",
                    lambda: self.actions.commit(vm, name=request.name, description=request.description),
                )

        self.app.push_screen(CommitScreen(vm), commit)

    def action_restore(self) -> None:
        commit = self.selected_commit()
        if self._refuse("restore") or commit is None:
            return
        self._start(
            commit.key,
            "starting",
            "New VM from commit",
            lambda: self.actions.restore(commit),
            partial(self._select_new_vm, commit.provider),
        )

    def _select_new_vm(self, profile: str, outcome: Outcome | None) -> None:
        """Put the cursor on the VM an action just made (now, or when the next poll lists it)."""
        if outcome is not None and outcome.ids:
            self._select_when_listed = (profile, outcome.ids[0])
            self._apply_fleets()

    def action_pause(self) -> None:
        vm = self.selected_vm()
        if self._refuse("pause") or vm is None:
            return
        resume = vm.state is VmState.PAUSED
        self._start(
            vm.key,
            "resuming" if resume else "pausing",
            "Resume" if resume else "Pause",
            lambda: self.actions.toggle_pause(vm),
        )

    def action_power(self) -> None:
        vm = self.selected_vm()
        if self._refuse("power") or vm is None:
            return
        stop = vm.state.is_live
        self._start(
            vm.key,
            "stopping" if stop else "starting",
            "Stop" if stop else "Start",
            lambda: self.actions.start_stop(vm),
        )

    def action_delete(self) -> None:
        vm = self.selected_vm()
        if self._refuse("delete") or vm is None:
            return

        def delete(confirmed: bool | None) -> None:
            if confirmed:
                self._start(vm.key, "deleting", "Delete", lambda: self.actions.delete(vm))

        if isinstance(self.actions.providers.get(vm.provider), SwiftorProvider):
            # irreversible (storage, secrets, mappings go too): type the label to confirm
            self.app.push_screen(ConfirmTypedDeleteScreen.for_vm(vm), delete)
            return
        fleet = next((f for f in self.fleets() if f.provider == vm.provider), None)
        dependent = dependants(fleet.vms, fleet.commits, vm) if fleet else []
        self.app.push_screen(ConfirmDeleteScreen(vm, dependent), delete)

    def action_ssh(self) -> None:
        vm = self.selected_vm()
        if self._refuse("ssh") or vm is None:
            return
        if vm.state is not VmState.PAUSED:  # a booting VM is waited for by the session itself
            self.call_later(self._open_terminal, vm, False)
            return

        def resume(confirmed: bool | None) -> None:
            if confirmed:
                self.call_later(self._open_terminal, vm, True)

        self.app.push_screen(
            ConfirmScreen(
                f"Resume VM {clean(vm.display_name, 60)}?",
                Text(f"{clean(vm.provider, 30)} · {clean(vm.id, 80)} · paused", style="bold"),
                Text("A terminal needs the VM running. Resume it, then open the terminal?"),
                confirm_label="Resume",
                danger=False,
            ),
            resume,
        )

    async def _open_terminal(self, vm: Vm, resume_paused: bool) -> None:
        """Open an SSH session on `vm` as a new tab of the terminal pane and focus it."""
        provider = self.actions.providers[vm.provider]
        options = self.vmtui.options
        area = self.query_one(TerminalArea)
        tabs = next(iter(area.query(TerminalTabs)), None)
        if tabs is None:
            await area.query("#terminal-hint").remove()
            tabs = TerminalTabs(scrollback=options.scrollback, id="terminal-tabs")
            await area.mount(tabs)
            area.add_class("-open")

        def make_session() -> SshSession:
            return SshSession(
                provider,
                vm.id,
                known_hosts=TofuKnownHosts(state_dir() / "known_hosts"),
                resume_paused=resume_paused,
                keepalive_interval=options.ssh_keepalive,
            )

        await tabs.open_session(clean(vm.display_name, 30), ssh_transport_factory(make_session))
        area.focus_terminal()

    def action_yank(self) -> None:
        item = (
            self.selected_vm()
            if not self.selected_commit() or not self.lineage.has_focus
            else self.selected_commit()
        )
        if item is None:
            return
        self.app.copy_to_clipboard(item.id)
        self.notify(f"Copied {clean(item.id, 80)}", timeout=2, markup=False)

    def action_refresh(self) -> None:
        for poller in self.pollers.values():
            poller.wake()
        self.notify("Refreshing…", timeout=1)

    def _swiftor_created(self, profile: str, sent: object) -> None:
        if sent is not None:
            self.notify("Desktop VM requested; it appears in the list as it starts", title="New VM")
            poller = self.pollers.get(profile)
            if poller is not None:
                poller.wake()

    def action_secrets(self) -> None:
        vm = self.selected_vm()
        provider = self.actions.providers.get(vm.provider) if vm else None
        if self._refuse("secrets") or vm is None or not isinstance(provider, SwiftorProvider):
            return
        self.app.push_screen(SecretsScreen(provider, vm))

    def action_networking(self) -> None:
        vm = self.selected_vm()
        provider = self.actions.providers.get(vm.provider) if vm else None
        if self._refuse("networking") or vm is None or not isinstance(provider, SwiftorProvider):
            return
        self.app.push_screen(NetworkingScreen(provider, vm))

    def action_images(self) -> None:
        if self._refuse("images"):
            return
        self.app.push_screen(
            ImagesScreen(self.actions, self.default_profile(), read_only=self.vmtui.options.read_only)
        )

    def profile_summary(self, name: str) -> str:
        if name not in self.shown:
            return "not shown; choose to add its VMs to the list"
        result = self.results.get(name)
        fleet = result.fleet if result else None
        state = self.connecting.get(name) or ("offline" if result and result.stale else "live")
        count = f"{len(fleet.vms)} VM(s)" if fleet else "no data"
        marker = "new VMs go here" if name == self.default_profile() else "choose for new VMs and images"
        return f"{state}, {count}; {marker}"

    def set_default_profile(self, name: str) -> None:
        """Make `name` the profile that new VMs and the images screen use."""
        self.vmtui.options.active_profile = name
        self.notify(f"New VMs and images now use profile {clean(name, 40)}", timeout=3, markup=False)
        self.refresh_bindings()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self, self.unavailable_reasons()))
