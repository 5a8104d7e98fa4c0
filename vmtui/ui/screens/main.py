"""MainScreen: composes the panes and routes messages between them and the services.

Data flows down as attributes (the screen hands each pane what it shows) and up as messages (panes
report highlights; the fleet supervisor's pollers post FleetUpdated). Every key runs an entry of the
action registry (`vmtui.ui.actions`) through `run`; the flows live in `vmtui.ui.flows`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Key, ScreenResume
from textual.screen import Screen
from textual.widget import MountError

from vmtui.core.collector import collector
from vmtui.core.models import Commit, Vm
from vmtui.paths import state_dir
from vmtui.services.actions import Actions, PendingKey
from vmtui.services.availability import Selection, unavailable
from vmtui.services.exec_runs import ExecRuns
from vmtui.services.fleet import FleetSupervisor
from vmtui.services.known_hosts import TofuKnownHosts
from vmtui.services.poller import PollResult
from vmtui.services.registry import Opener
from vmtui.services.tunnels import Tunnels
from vmtui.ui import flows
from vmtui.ui.actions import REGISTRY, Scope, UiAction, bind_registry, bindings
from vmtui.ui.commands import VmCommands
from vmtui.ui.flows import BULK
from vmtui.ui.format import clean
from vmtui.ui.messages import FleetUpdated, ProfileConnecting, ProfileNotice
from vmtui.ui.new_vm_wait import NewVmWait
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.help import HelpScreen
from vmtui.ui.screens.pane_focus import PaneFocus
from vmtui.ui.widgets.banner import Banner
from vmtui.ui.widgets.empty_hint import EmptyHint
from vmtui.ui.widgets.filter_bar import FilterBar
from vmtui.ui.widgets.fitting_footer import FittingFooter
from vmtui.ui.widgets.lineage_tree import LineageTree
from vmtui.ui.widgets.status_bar import StatusBar
from vmtui.ui.widgets.terminal_area import TerminalArea
from vmtui.ui.widgets.vm_details import VmDetails
from vmtui.ui.widgets.vm_table import VmTable

if TYPE_CHECKING:
    from vmtui.ui.widgets.terminal_tabs import TerminalTabs

NARROW_WIDTH = 100
PANES_AFTER_S = 0.5
"""The secondary panes mount at the latest this long after the screen, rows or not (a local engine
still starting, a slow platform): the screen is whole while it waits."""
PANES = (
    ("list-pane", "1 VMs"),
    ("lineage-tree", "2 Lineage"),
    ("details", "3 Details"),
    ("terminal-area", "4 Terminal"),
)


class MainScreen(Screen[None]):
    COMMANDS: ClassVar[set] = {VmCommands}
    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.SCREEN)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_WIDTH, "-wide")]  # noqa: RUF012 - typed by Textual

    def __init__(
        self,
        actions: Actions,
        openers: dict[str, Opener],
        options: AppOptions,
        shown: list[str] | None = None,
        registry: tuple[UiAction, ...] = REGISTRY,
    ) -> None:
        super().__init__()
        self.actions = actions
        self.options = options
        self.registry = {action.id: action for action in registry}
        bind_registry(self, Scope.SCREEN, registry)
        self.fleet = FleetSupervisor(
            openers,
            actions,
            options.poll,
            shown=shown,
            on_result=self._hand_on_result,
            on_status=lambda name, status, error: self.post_message(ProfileConnecting(name, status, error)),
            on_notice=lambda name, text: self.post_message(ProfileNotice(name, text)),
            order=self._table_order,
            wall_clock=options.now,
        )
        self.panes = PaneFocus(self)
        self.new_vm = NewVmWait()
        self.exec_runs = ExecRuns(actions.providers, actions.log)
        self.tunnels = Tunnels(TofuKnownHosts(state_dir() / "known_hosts"))
        self._panes_started = False
        self.panes_mounted = asyncio.Event()
        """Set once `mount_panes` is done (or gave up: the app closed meanwhile)."""
        self.panes_ready = False
        """The panes `mount_panes` adds are there."""
        self._resumed = False
        self._early_results: list[PollResult] | None = []
        """Poll results that came before `on_mount` (None from then on)."""
        self._first_frame_drawn = False

    def _hand_on_result(self, result: PollResult) -> None:
        """A poll result goes through the screen's queue. Until the first frame is drawn it is applied
        at once instead (one that comes before `on_mount` waits for it): queued, it would wait behind
        that frame, and the first rows would take a second one."""
        if self._early_results is not None:
            self._early_results.append(result)
        elif self._first_frame_drawn:
            self.post_message(FleetUpdated(result))
        else:
            self._fleet_updated(FleetUpdated(result))

    def _first_frame(self) -> None:
        self._first_frame_drawn = True

    def start_polling(self) -> None:
        """Open the shown profiles and poll them. The app calls it before this screen composes, so
        the first list requests overlap the mount; a result that comes before the first frame is in it
        (`_hand_on_result`)."""
        self.fleet.start(lambda work: self.run_worker(work, group="poll", exit_on_error=False))

    def compose(self) -> ComposeResult:
        # The size class now, not on the first resize, which would restyle every widget again.
        narrow = self.app.size.width < NARROW_WIDTH
        self.set_class(narrow, "-narrow", update=False)
        self.set_class(not narrow, "-wide", update=False)
        options = self.options
        yield Banner(now=options.now, ascii_only=options.ascii, id="banner")
        with Horizontal(id="top"):
            with Vertical(id="list-pane", classes="pane"):
                yield VmTable(ascii_only=options.ascii, now=options.now, id="vm-table")
                yield EmptyHint("", id="empty-hint")
            yield Vertical(id="side")
        yield TerminalArea(id="terminal-area", classes="pane")
        yield StatusBar(
            now=options.now, ascii_only=options.ascii, read_only=options.read_only, id="status-bar"
        )

    async def mount_panes(self) -> None:
        """Mount what the first rows do not need: the filter box, the lineage tree, the details and
        the footer (once; later calls wait for that mount). The first frame carries the VM list: these
        follow the frame with every shown profile's first list (`_fleet_updated`), or `PANES_AFTER_S` after the screen
        when no list has come, or before any action, which may need them."""
        if self._panes_started:
            await self.panes_mounted.wait()
            return
        self._panes_started = True
        try:
            await self._mount_panes()
        finally:
            self.panes_mounted.set()  # also when the app closed meanwhile: nobody waits forever

    async def _mount_panes(self) -> None:
        options = self.options
        lineage = LineageTree(ascii_only=options.ascii, now=options.now, id="lineage-tree", classes="pane")
        try:
            await self.query_one("#list-pane").mount(FilterBar(), before=self.table)
            await self.query_one("#side").mount(
                lineage, VmDetails(now=options.now, id="details", classes="pane")
            )
            await self.mount(FittingFooter(show_command_palette=False))
        except MountError:
            return  # the app is closing: the panes' parents are being removed (a quit right after start)
        if not lineage.is_attached or not self.app.is_running:
            return  # the app is closing (its shutdown prunes the screen without `exit`)
        self._set_border_titles()
        self.panes_ready = True
        self._apply_fleets()
        lineage.call_later(lineage.mark_here, self.table.selected_key)  # as a highlight in the list does

    async def on_unmount(self) -> None:
        await self.exec_runs.close()
        await self.tunnels.close_all()

    def on_mount(self) -> None:
        self._set_border_titles()
        self.table.focus()
        self.set_interval(1.0, self._tick)
        self.set_timer(PANES_AFTER_S, self.mount_panes)
        early, self._early_results = self._early_results or [], None
        for result in early:
            self._fleet_updated(FleetUpdated(result))
        self.call_after_refresh(self._first_frame)
        self.refresh_status()

    def on_screen_resume(self, event: ScreenResume) -> None:
        """The first resume follows the compose, whose widgets were styled as they mounted (theme and
        app classes were set before): Textual would restyle every one of them again before the first
        frame. Later resumes (a dialog closed) restyle as usual."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _set_border_titles(self) -> None:
        for pane_id, title in PANES:
            for pane in self.query(f"#{pane_id}"):
                pane.border_title = title

    def _table_order(self) -> tuple[str, bool]:
        """The VM table's order, or the one it starts with while it is not composed yet."""
        for table in self.query(VmTable):
            return table.sort_column, table.sort_reverse
        return VmTable.FIRST_ORDER

    @property
    def table(self) -> VmTable:
        return self.query_one(VmTable)

    @property
    def lineage(self) -> LineageTree:
        return self.query_one(LineageTree)

    # ---------------------------------------------------------------- profiles and polling

    def show_profile(self, name: str) -> None:
        """Add a profile's VMs to the list (it is opened and polled from now on)."""
        if self.fleet.show(name):
            self.notify(f"Showing profile {clean(name, 40)}", timeout=3, markup=False)
            self.refresh_status()

    def hide_profile(self, name: str) -> None:
        """Stop polling a profile and drop its rows; the last shown profile stays."""
        if self.fleet.hide(name):
            self._apply_fleets()
            self.notify(f"Hid profile {clean(name, 40)}", timeout=3, markup=False)

    def set_default_profile(self, name: str) -> None:
        """Make `name` the profile that new VMs and the images screen use."""
        self.options.active_profile = name
        self.notify(f"New VMs and images now use profile {clean(name, 40)}", timeout=3, markup=False)
        self.refresh_bindings()

    def default_profile(self) -> str:
        return self.fleet.default_profile(self.options.active_profile)

    @on(ProfileConnecting)
    def _profile_connecting(self, message: ProfileConnecting) -> None:
        if self.fleet.record_status(message.profile, message.status, message.error):
            self.refresh_status()

    @on(ProfileNotice)
    def _profile_notice(self, message: ProfileNotice) -> None:
        title = f"Profile {clean(message.profile, 40)}"
        self.notify(message.text, title=title, severity="warning", timeout=15, markup=False)

    @on(FleetUpdated)
    def _fleet_updated(self, message: FleetUpdated) -> None:
        before = self.fleet.fleet(message.result.provider)
        was_offline = self.fleet.offline()
        recorded = self.fleet.record(message.result)
        if not recorded:
            if message.result.shown is not None:
                message.result.shown()  # nobody shows it: the rest of the list need not wait
            return
        if self.fleet.offline() != was_offline:
            self.refresh_bindings()  # grey (or restore) the keys that need the platform
        if self.fleet.unchanged(before, message.result.fleet):
            self.refresh_status()  # the data age and lineage progress; table and tree stay as they are
        else:
            self._apply_fleets()
            self._prioritize_lineage()
            collector.settle_soon()  # what this snapshot built stays: later collections skip it
        if not self._panes_started and len(self.fleet.results) >= len(self.fleet.shown):
            self.call_after_refresh(self.mount_panes)
        if message.result.shown is not None:
            self.table.after_rows_drawn(partial(self._once_whole, message.result.shown))

    async def _once_whole(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the panes are mounted too: the rest of a big first list is converted
        after the first rows are drawn and the screen is whole (converted meanwhile, it would take a
        turn of the loop from each step of the mount)."""
        await self.panes_mounted.wait()
        callback()

    def _prioritize_lineage(self) -> None:
        keys = (self.table.selected_key, *self.table.visible_keys())
        self.fleet.prioritize_lineage(key for key in keys if key is not None)

    def _apply_fleets(self) -> None:
        fleets = self.fleet.fleets()
        with self.app.batch_update(), collector.paused():  # the tree's rebuild at 100,000 VMs: 8x faster
            self.table.set_fleet(chain.from_iterable(fleet.vms for fleet in fleets))
            awaited = self.new_vm.select_when_listed
            if awaited is not None and self.table.select(awaited):
                for action_id in self.new_vm.selected():
                    self.call_later(self.action_run, action_id)
            if self.panes_ready:
                self.lineage.set_fleets(fleets)
            self.terminal.keep_owners(self.table.vms)
            self._show_details()
            self.refresh_status()
            self._update_empty_hint()

    def select_item(self, item: Vm | Commit) -> None:
        """Put the cursor on a VM (in the list) or a commit (in the tree, focused)."""
        if isinstance(item, Vm):
            self.table.select(item.key)
            self.table.focus()
        elif self.lineage.reveal((item.provider, "commit", item.id)):
            self.lineage.focus()

    def select_when_listed(self, profile: str, vm_id: str) -> None:
        self.new_vm.made((profile, vm_id))
        self._apply_fleets()

    def _update_empty_hint(self) -> None:  # and the active filter, with its count, on the border
        table, vm_filter = self.table, self.table.filter
        self.query_one(EmptyHint).explain(
            rows=table.row_count, vms=len(table.vms), listed=bool(self.fleet.fleets())
        )
        shown = f"filter: {clean(vm_filter.text, 40)} ({table.row_count} of {len(table.vms)}; Esc clears)"
        waiting = table.loading + self.fleet.still_listing()
        listed = len(table.vms) + self.fleet.still_listing()
        loading = f"listing {listed - waiting:,} of {listed:,}" if waiting else ""
        subtitle = "; ".join(part for part in (shown if vm_filter.active else "", loading) if part)
        self.query_one("#list-pane").border_subtitle = subtitle

    def _tick(self) -> None:
        """Every second: the data age in the status bar and the ages of the rows on screen (each
        repaints only when its text changed)."""
        self.refresh_status()
        self.table.refresh_ages()

    def refresh_status(self) -> None:
        fleet = self.fleet
        self.query_one(StatusBar).refresh_status(
            connecting=fleet.connecting,
            results=fleet.results,
            pending=self.actions.pending,
            filter_text=self.table.filter.text,
            marked=len(self.table.marked),
        )
        self.query_one(Banner).show_problems(fleet)

    def pending_changed(self, key: PendingKey) -> None:
        """An action started or finished: badges, status, and a poll of its profile now."""
        self.table.set_pending(self.actions.pending)
        self.refresh_status()
        self._show_details()
        self.fleet.wake(key[0])

    # ---------------------------------------------------------------- selection

    @on(VmTable.RowsLoaded)
    def _rows_loaded(self, _message: VmTable.RowsLoaded) -> None:
        self._update_empty_hint()

    @on(VmTable.VmHighlighted)
    def _vm_highlighted(self, message: VmTable.VmHighlighted) -> None:
        if self.panes_ready:
            self.lineage.mark_here(message.key)
        self._show_details()
        self._prioritize_lineage()
        self._look_up_parent_commit(self.table.selected_vm)

    def _look_up_parent_commit(self, vm: Vm | None) -> None:
        """The selected VM's parent commit, when it is on a commit page not fetched yet (selection first)."""
        fleet = self.fleet.fleet(vm.provider) if vm is not None else None
        if vm is None or fleet is None or not vm.parent_commit_id:
            return
        if len(fleet.commits) < fleet.commits_total and all(
            c.id != vm.parent_commit_id for c in fleet.commits
        ):
            work = self.fleet.look_up_commit(vm.provider, vm.parent_commit_id)
            self.run_worker(work, group="commit-lookup", exit_on_error=False)

    @on(LineageTree.LoadMore)
    def _load_more_commits(self, message: LineageTree.LoadMore) -> None:
        self.fleet.more_commits(message.profile)
        self.notify("Loading the next page of commits…", timeout=2, markup=False)

    @on(VmTable.MarksChanged)
    def _marks_changed(self) -> None:
        self.refresh_status()
        self.refresh_bindings()

    @on(LineageTree.ItemHighlighted)
    def _tree_highlighted(self, message: LineageTree.ItemHighlighted) -> None:
        if self.lineage.has_focus:
            self._show_details(message.item)
            if isinstance(message.item, Vm):
                self.table.select(message.item.key)

    @on(VmTable.RowSelected)
    async def _click_on_selected_row(self) -> None:
        """A click on the row under the cursor describes it, as Enter does."""
        await self.action_run("view.describe")

    def selected_vm(self) -> Vm | None:
        """The VM under the tree's cursor when the tree has focus (None on a commit: the commit is the
        selection then), else the list's."""
        if self.panes_ready and self.lineage.has_focus:
            item = self.lineage.selected_item()
            if isinstance(item, Vm):
                return item
            if isinstance(item, Commit):
                return None
        return self.table.selected_vm

    def broadcast_targets(self) -> list[Vm]:
        """The VMs marked in the list (Space) when the table marks any, else the selected VM."""
        marked = self.table.marked_vms
        selected = self.selected_vm()
        return marked or ([selected] if selected is not None else [])

    def selected_commit(self) -> Commit | None:
        item = self.lineage.selected_item() if self.panes_ready else None
        return item if isinstance(item, Commit) else None

    def _show_details(self, item: Vm | Commit | None = None) -> None:
        if not self.panes_ready:
            return
        if item is None:
            item = self.lineage.selected_item() if self.lineage.has_focus else self.table.selected_vm
        self.query_one(VmDetails).show_for(item, self.actions, self.fleet)

    # ---------------------------------------------------------------- actions

    def unavailable(self, action_id: str) -> str | None:
        """Why a registry action can't run for the current selection (or the marked VMs), or None."""
        if action_id in BULK and self.table.marked:
            first_reason = None
            for key in self.table.marked:  # available as soon as one marked VM can
                reason = self.unavailable_for(action_id, self.table.vms[key])
                if reason is None:
                    return None
                first_reason = first_reason or reason
            return f"no marked VM can: {first_reason}"
        selection = Selection(self.default_profile(), self.selected_vm(), self.selected_commit())
        return self._unavailable(action_id, selection)

    def unavailable_for(self, action_id: str, vm: Vm) -> str | None:
        """Why a registry action can't run on `vm`, or None."""
        return self._unavailable(action_id, Selection(self.default_profile(), vm))

    def _unavailable(self, action_id: str, selection: Selection) -> str | None:
        requires, providers = self.registry[action_id].requires, self.actions.providers
        return unavailable(
            requires,
            selection,
            providers,
            self.actions.pending,
            read_only=self.options.read_only,
            offline=self.fleet.offline(),
        )

    def unavailable_reasons(self) -> dict[str, str]:
        return {action_id: reason for action_id in self.registry if (reason := self.unavailable(action_id))}

    def refuse(self, action_id: str) -> bool:
        """Say why an action can't run now; False when it can."""
        reason = self.unavailable(action_id)
        if reason:
            self.notify(reason, title="Not available", severity="warning", markup=False)
        return reason is not None

    async def action_run(self, action_id: str) -> None:
        """Carry out a registry action (a key, or a palette entry)."""
        await self.mount_panes()
        action = self.registry[action_id]
        if self.new_vm.holds(action.requires.needs):
            self.new_vm.queued.append(action_id)
            self.notify(f"{action.label}: runs on the new VM once it is listed", timeout=3, markup=False)
            return
        if self.refuse(action_id):
            return
        result = action.flow(self)
        if inspect.isawaitable(result):
            await result

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run" and parameters:
            action_id = str(parameters[0])
            if self.new_vm.holds(self.registry[action_id].requires.needs):
                return True  # waits for the new VM (`action_run`)
            return None if self.unavailable(action_id) else True
        return True

    def on_key(self, event: Key) -> None:
        """A key of an action that can't run now says why: Textual would drop the press silently."""
        active = self.active_bindings.get(event.key)  # what the key does now, keymap applied
        if (
            active is None
            or active.enabled
            or active.node is not self
            or active.binding.id not in self.registry
        ):
            return
        self.refuse(active.binding.id)
        event.stop()
        event.prevent_default()

    def show_help(self) -> None:
        if self.app.screen is self:
            self.app.push_screen(HelpScreen(self, self.unavailable_reasons()))

    @property
    def terminal(self) -> TerminalArea:
        return self.query_one(TerminalArea)

    # ---------------------------------------------------------------- filter

    def open_filter(self) -> None:
        self.query_one(FilterBar).open()

    def clear_filter(self) -> None:
        self.query_one(FilterBar).clear()

    @on(FilterBar.Changed)
    def _filter_changed(self, message: FilterBar.Changed) -> None:
        self.table.set_filter(message.vm_filter)
        self._update_empty_hint()
        self.refresh_status()

    def on_terminal_tabs_tab_closed(self, message: TerminalTabs.TabClosed) -> None:
        """Named, not `@on(TerminalTabs.TabClosed)`: the tabs are imported when the first terminal opens."""
        if isinstance(message.owner, tuple):
            flows.scratch_closed(self, message.owner)

    @on(FilterBar.Done)
    def _filter_done(self) -> None:
        self.table.focus()
