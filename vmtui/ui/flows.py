"""What each registry action does: open its dialog, then run the change through `Actions` in a worker.

A flow gets the screen it runs on as an `ActionHost`. The row shows a badge in the same frame as the
key press (`start`), the result ends in a notification, and a failure is kept for the details pane.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from rich.text import Text
from textual.app import App
from textual.notifications import SeverityLevel

from vmtui.core.errors import ProviderError
from vmtui.core.models import Commit, Image, Vm
from vmtui.paths import state_dir
from vmtui.providers.base import AccountApi, DesktopsApi
from vmtui.services.account import account_document, account_lines
from vmtui.services.actions import Actions, Outcome, PendingKey, dependants
from vmtui.services.exec_runs import ExecRuns
from vmtui.services.file_diff import DiffRequest
from vmtui.services.fleet import FleetSupervisor
from vmtui.services.tunnels import Tunnels
from vmtui.ui.format import clean
from vmtui.ui.new_vm_wait import NewVmWait
from vmtui.ui.options import AppOptions
from vmtui.ui.screens.action_log import ActionLogScreen
from vmtui.ui.screens.branch import BranchScreen
from vmtui.ui.screens.broadcast import BroadcastScreen
from vmtui.ui.screens.commit import CommitRequest, CommitScreen
from vmtui.ui.screens.commit_history import CommitHistoryScreen
from vmtui.ui.screens.confirm import ConfirmScreen
from vmtui.ui.screens.confirm_bulk import ConfirmBulkScreen
from vmtui.ui.screens.confirm_delete import ConfirmDeleteScreen
from vmtui.ui.screens.confirm_typed_delete import ConfirmTypedDeleteScreen
from vmtui.ui.screens.create_vm import CreateRequest, CreateVmScreen
from vmtui.ui.screens.describe import DescribeScreen
from vmtui.ui.screens.disk import ResizeDiskScreen
from vmtui.ui.screens.env_vars import EnvVarsScreen
from vmtui.ui.screens.exec_runs import ExecScreen
from vmtui.ui.screens.images import ImagesScreen
from vmtui.ui.screens.labels import LabelsScreen, RenameScreen
from vmtui.ui.screens.lineage_graph import LineageGraphScreen
from vmtui.ui.screens.logs import LogsScreen
from vmtui.ui.screens.networking import NetworkingScreen
from vmtui.ui.screens.pane_focus import PaneFocus
from vmtui.ui.screens.progress import ProgressScreen
from vmtui.ui.screens.secrets import SecretsScreen
from vmtui.ui.screens.swiftor_create import SwiftorCreateScreen
from vmtui.ui.screens.tags import TagsScreen
from vmtui.ui.screens.tunnels import TunnelsScreen
from vmtui.ui.widgets.lineage_tree import LineageTree
from vmtui.ui.widgets.terminal_area import TerminalArea
from vmtui.ui.widgets.vm_table import VmTable

OnDone = Callable[[Outcome | None], None]
Flow = Callable[["ActionHost"], object]


class ActionHost(Protocol):
    """What a flow needs from the screen it runs on (the main screen)."""

    actions: Actions
    fleet: FleetSupervisor
    panes: PaneFocus
    options: AppOptions
    new_vm: NewVmWait
    exec_runs: ExecRuns
    tunnels: Tunnels

    @property
    def app(self) -> App[None]: ...

    def selected_vm(self) -> Vm | None: ...

    def selected_commit(self) -> Commit | None: ...

    def broadcast_targets(self) -> list[Vm]: ...

    def default_profile(self) -> str: ...

    def select_when_listed(self, profile: str, vm_id: str) -> None: ...

    def select_item(self, item: Vm | Commit) -> None: ...

    def run_worker(self, work: Awaitable[None], *, group: str, exit_on_error: bool) -> object: ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def open_filter(self) -> None: ...

    def clear_filter(self) -> None: ...

    @property
    def terminal(self) -> TerminalArea: ...

    def show_help(self) -> None: ...

    @property
    def table(self) -> VmTable: ...

    def unavailable_for(self, action_id: str, vm: Vm) -> str | None: ...


def start(
    host: ActionHost,
    key: PendingKey,
    verb: str,
    title: str,
    run: Callable[[], Awaitable[Outcome]],
    on_done: OnDone | None = None,
) -> None:
    """Badge now (same frame), then run the action as a worker and notify the result."""
    host.actions.mark(key, verb)
    host.run_worker(_finish(host, key, title, run, on_done), group="actions", exit_on_error=False)


async def _finish(
    host: ActionHost,
    key: PendingKey,
    title: str,
    run: Callable[[], Awaitable[Outcome]],
    on_done: OnDone | None,
) -> None:
    outcome: Outcome | None = None
    try:
        outcome = await host.actions.attempt(key, run)
    except ProviderError as exc:
        host.notify(clean(exc, 500), title=f"{title} failed", severity="error", timeout=8, markup=False)
    except Exception:  # noqa: BLE001 - a bug must surface as a message, not kill the app or vanish
        error = host.actions.errors[key]
        host.notify(
            clean(error, 500), title=f"{title} failed unexpectedly", severity="error", timeout=8, markup=False
        )
    else:
        host.notify(clean(outcome.message, 500), title=title, markup=False)
    if on_done is not None:
        on_done(outcome)


def _select_new(host: ActionHost, profile: str) -> OnDone:
    """Put the cursor on the VM an action makes (now, or when the next poll lists it). Until then
    keys that act on the selected VM wait for the new one (`expect_new_vm`) instead of hitting the old."""
    host.new_vm.expected += 1

    def select(outcome: Outcome | None) -> None:
        if outcome is not None and outcome.ids:
            host.select_when_listed(profile, outcome.ids[0])
        elif dropped := host.new_vm.failed():
            names = ", ".join(dropped)
            host.notify(f"Not run: {names} (no new VM was made)", severity="warning", markup=False)

    return select


# ---------------------------------------------------------------------- marked VMs


@dataclass(frozen=True)
class BulkAction:
    """An action that also runs on every marked VM (after one confirmation naming them all)."""

    title: str
    verb: Callable[[Vm], str]
    """The row's badge while it runs."""
    run: Callable[[Actions, Vm, bool], Awaitable[Outcome]]
    """Runs the action on one VM; the flag says to checkpoint it first (only `checkpoints` actions)."""
    danger: bool
    """Cancel is focused and `y` does nothing."""
    note: Callable[[ActionHost, list[Vm]], str] = lambda host, targets: ""
    """A warning for these targets, shown above their names."""
    refuse: Callable[[ActionHost, Vm], str | None] = lambda host, vm: None
    """Why a VM the action could run on is still left out of a bulk run (skipped and named)."""
    checkpoints: bool = False
    """Destroys VMs: each running VM may be checkpointed first (`[ui] checkpoint`), as a single delete."""


DESKTOP_STOP_NOTE = "Stopping a desktop loses its ephemeral /config (settings not on persistent storage)."


def _desktop_stop_note(host: ActionHost, targets: list[Vm]) -> str:
    providers = host.actions.providers
    stops = any(vm.state.is_live and isinstance(providers.get(vm.provider), DesktopsApi) for vm in targets)
    return DESKTOP_STOP_NOTE if stops else ""


def _desktop_delete(host: ActionHost, vm: Vm) -> str | None:
    """A desktop's delete asks for its label (`ConfirmTypedDeleteScreen`): never one click for many."""
    if isinstance(host.actions.providers.get(vm.provider), DesktopsApi):
        return "a desktop is deleted on its own (D asks for its label)"
    return None


BULK: dict[str, BulkAction] = {
    "vm.delete": BulkAction(
        "Delete",
        lambda vm: "deleting",
        lambda actions, vm, checkpoint: actions.delete(vm, checkpoint=checkpoint, prune=False),
        True,
        refuse=_desktop_delete,
        checkpoints=True,
    ),
    "vm.pause": BulkAction(
        "Pause/resume",
        lambda vm: "resuming" if vm.state.is_paused else "pausing",
        lambda actions, vm, _: actions.toggle_pause(vm),
        False,
    ),
    "vm.commit": BulkAction(
        "Commit", lambda vm: "committing", lambda actions, vm, _: actions.commit(vm), False
    ),
    "vm.power": BulkAction(
        "Start/stop",
        lambda vm: "stopping" if vm.state.is_live else "starting",
        lambda actions, vm, _: actions.start_stop(vm),
        True,
        _desktop_stop_note,
    ),
}
"""By registry action id."""

BULK_CONCURRENCY = 4
"""VMs acted on at once: a platform's rate limit sees a few requests, not one per marked VM."""

LISTED_FAILURES = 5


def over_marks(action_id: str) -> Callable[[Flow], Flow]:
    """With VMs marked, the action runs on all of them (`bulk`) instead of the selected one."""

    def wrap(flow: Flow) -> Flow:
        @functools.wraps(flow)
        def run(host: ActionHost) -> object:
            if host.table.marked:
                return bulk(host, action_id)
            return flow(host)

        return run

    return wrap


def bulk(host: ActionHost, action_id: str) -> None:
    """Confirm once, naming every marked VM it acts on and every one it skips (and why), then run."""
    action = BULK[action_id]
    marked = host.table.marked_vms
    reasons = {vm.key: host.unavailable_for(action_id, vm) or action.refuse(host, vm) for vm in marked}
    targets = [vm for vm in marked if not reasons[vm.key]]
    skipped = [(vm, reason) for vm in marked if (reason := reasons[vm.key])]

    checkpointable = [vm for vm in targets if action.checkpoints and _checkpoint_policy(host, vm) != "never"]

    def confirmed(yes: bool | None) -> None:
        if yes and targets:
            for vm in targets:
                host.actions.mark(vm.key, action.verb(vm))
            chosen = checkpointable if question.take_checkpoint else []
            host.run_worker(_run_bulk(host, action, targets, chosen), group="actions", exit_on_error=False)

    question = ConfirmBulkScreen(
        action.title,
        targets,
        skipped,
        note=action.note(host, targets),
        danger=action.danger,
        checkpoint=host.options.checkpoint if checkpointable else "never",
    )
    host.app.push_screen(question, confirmed)


async def _run_bulk(host: ActionHost, action: BulkAction, targets: list[Vm], checkpointed: list[Vm]) -> None:
    """Run on each VM (a few at a time) and report all of them in one notification. Checkpoints are
    pruned once at the end, keeping at least every one this run took."""
    gate = asyncio.Semaphore(BULK_CONCURRENCY)
    checkpoint = {vm.key for vm in checkpointed}

    async def one(vm: Vm) -> str | None:
        async with gate:
            try:
                await host.actions.attempt(vm.key, lambda: action.run(host.actions, vm, vm.key in checkpoint))
            except Exception:  # noqa: BLE001 - each failure is named in the summary, none stops the rest
                return host.actions.errors.get(vm.key, "failed")
        return None

    errors = await asyncio.gather(*(one(vm) for vm in targets))
    for profile in sorted({vm.provider for vm in checkpointed}):
        taken = sum(1 for vm in checkpointed if vm.provider == profile)
        with contextlib.suppress(ProviderError):  # a failed prune is in the action log; the next one retries
            await host.actions.prune_checkpoints(profile, keep_at_least=taken)
    failed = [(vm, error) for vm, error in zip(targets, errors, strict=True) if error]
    message = f"{len(targets) - len(failed)} of {len(targets)} done"
    for vm, error in failed[:LISTED_FAILURES]:
        message += f"\n{clean(vm.display_name, 40)}: {clean(error, 120)}"
    if len(failed) > LISTED_FAILURES:
        message += f"\n… and {len(failed) - LISTED_FAILURES} more failed"
    title = f"{action.title}: {len(failed)} failed" if failed else action.title
    host.notify(message, title=title, severity="error" if failed else "information", timeout=8, markup=False)


def toggle_mark(host: ActionHost) -> None:
    host.table.toggle_mark()


def mark_all(host: ActionHost) -> None:
    host.table.mark_all()


def mark_none(host: ActionHost) -> None:
    host.table.mark_none()


def invert_marks(host: ActionHost) -> None:
    host.table.invert_marks()


# ---------------------------------------------------------------------- VM actions


def new_vm(host: ActionHost) -> None:
    """The form of the selected row's profile (else the default one); it offers every shown profile
    that makes root VMs. Desktop profiles have their own form, which sends itself."""
    providers = host.actions.providers
    vm = host.selected_vm()
    row = providers.get(vm.provider) if vm is not None else None
    profile = vm.provider if vm is not None and row is not None and row.capabilities.can_create else None
    profile = profile or host.default_profile()
    if isinstance(providers[profile], DesktopsApi):

        def requested(sent: object) -> None:
            if sent is not None:
                host.notify("Desktop VM requested; it appears in the list as it starts", title="New VM")

        host.app.push_screen(SwiftorCreateScreen(host.actions, profile), requested)
        return
    choices = [
        name
        for name in host.fleet.shown
        if (provider := providers.get(name)) is not None
        and not isinstance(provider, DesktopsApi)
        and provider.capabilities.can_create
    ]

    def load_images(name: str) -> Awaitable[list[Image]] | None:
        return host.actions.list_images(name) if providers[name].capabilities.has_images else None

    def create(request: CreateRequest | None) -> None:
        if request is not None:
            target = request.profile
            start(
                host,
                (target, ""),
                "creating",
                "New VM",
                lambda: host.actions.create(target, request.config, wait_boot=request.wait_boot),
                _select_new(host, target),
            )

    host.app.push_screen(CreateVmScreen(profile, load_images, choices), create)


def branch(host: ActionHost) -> None:
    """`b`: N new VMs from the selected VM, or from the commit under the tree's cursor."""
    vm = host.selected_vm()
    if vm is None:
        commit_ = host.selected_commit()
        if commit_ is not None:
            vms_from_commit(host)
        return

    def chosen(count: int | None) -> None:
        if count is None:
            return
        if count == 1:
            start(host, vm.key, "branching", "Branch", lambda: host.actions.branch(vm, 1))
            return
        title = f"Branching {clean(vm.display_name, 50)} into {count} VMs"
        progress = ProgressScreen(title, count, ascii_only=host.options.ascii)
        host.app.push_screen(progress)
        start(
            host,
            vm.key,
            "branching",
            "Branch",
            lambda: host.actions.branch(vm, count, progress.update_vm),
            lambda outcome: progress.finish(
                outcome.message if outcome else "failed", succeeded=outcome is not None
            ),
        )

    host.app.push_screen(BranchScreen(vm), chosen)


@over_marks("vm.commit")
def commit(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is None:
        return

    def chosen(request: CommitRequest | None) -> None:
        if request is not None:
            start(
                host,
                vm.key,
                "committing",
                "Commit",
                lambda: host.actions.commit(vm, name=request.name, description=request.description),
            )

    host.app.push_screen(CommitScreen(vm), chosen)


def restore(host: ActionHost) -> None:
    chosen = host.selected_commit()
    if chosen is not None:
        run = host.actions.restore
        start(
            host,
            chosen.key,
            "starting",
            "New VM from commit",
            lambda: run(chosen),
            _select_new(host, chosen.provider),
        )


def vms_from_commit(host: ActionHost) -> None:
    """Ask how many, then start that many VMs from the selected commit (branch by commit)."""
    chosen = host.selected_commit()
    if chosen is None:
        return

    def counted(count: int | None) -> None:
        if count is None:
            return
        name = clean(chosen.display_name, 50)
        progress = ProgressScreen(
            f"Starting {count} VM(s) from commit {name}", count, ascii_only=host.options.ascii
        )
        host.app.push_screen(progress)
        start(
            host,
            chosen.key,
            "branching",
            "New VMs from commit",
            lambda: host.actions.branch_commit(chosen, count, progress.update_vm),
            lambda outcome: progress.finish(outcome.message if outcome else "failed"),
        )

    host.app.push_screen(BranchScreen(chosen), counted)


def delete_commit(host: ActionHost) -> None:
    """Delete the selected commit after naming what was started from it."""
    chosen = host.selected_commit()
    if chosen is None:
        return

    def confirmed(yes: bool | None) -> None:
        if yes:
            start(host, chosen.key, "deleting", "Delete commit", lambda: host.actions.delete_commit(chosen))

    fleet = host.fleet.fleet(chosen.provider)
    dependent = dependants(fleet.vms, fleet.commits, chosen) if fleet else []
    host.app.push_screen(ConfirmDeleteScreen(chosen, dependent), confirmed)


def publish_commit(host: ActionHost) -> None:
    """Publish a private commit, unpublish a public one (asks first: publishing shares it)."""
    chosen = host.selected_commit()
    if chosen is None:
        return
    public = not chosen.is_public
    title = "Publish" if public else "Unpublish"

    def confirmed(yes: bool | None) -> None:
        if yes:
            start(
                host,
                chosen.key,
                f"{title.lower()}ing",
                f"{title} commit",
                lambda: host.actions.publish_commit(chosen, public),
            )

    effect = (
        "Anyone can then start VMs from it (it is listed among public commits)."
        if public
        else "Only your organisation can start VMs from it again."
    )
    question = ConfirmScreen(
        f"{title} commit {clean(chosen.display_name, 60)}?",
        Text(f"{clean(chosen.provider, 30)} · {clean(chosen.id, 80)}", style="bold"),
        Text(effect),
        confirm_label=title,
        danger=public,
    )
    host.app.push_screen(question, confirmed)


def edit_commit(host: ActionHost) -> None:
    chosen = host.selected_commit()
    if chosen is None:
        return

    def edited(request: CommitRequest | None) -> None:
        if request is not None:
            start(
                host,
                chosen.key,
                "saving",
                "Edit commit",
                lambda: host.actions.edit_commit(chosen, name=request.name, description=request.description),
            )

    host.app.push_screen(CommitScreen(chosen), edited)


def commit_history(host: ActionHost) -> None:
    chosen = host.selected_commit()
    if chosen is not None:
        host.app.push_screen(CommitHistoryScreen(host.actions, chosen, host.options.now))


def tags(host: ActionHost) -> None:
    chosen = host.selected_commit()
    profile = chosen.provider if chosen is not None else host.default_profile()

    def select_new(ids: tuple[str, ...]) -> None:
        if ids:
            host.select_when_listed(profile, ids[0])

    host.app.push_screen(
        TagsScreen(
            host.actions,
            profile,
            host.options.now,
            commit_id=chosen.id if chosen is not None else "",
            read_only=host.options.read_only,
            on_new_vms=select_new,
        )
    )


@over_marks("vm.pause")
def pause(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is not None:
        resume = vm.state.is_paused
        verb, title = ("resuming", "Resume") if resume else ("pausing", "Pause")
        start(host, vm.key, verb, title, lambda: host.actions.toggle_pause(vm))


@over_marks("vm.power")
def power(host: ActionHost) -> None:
    """Start or stop; stopping a Swiftor desktop asks first (its ephemeral /config is lost)."""
    vm = host.selected_vm()
    if vm is None:
        return
    verb, title = ("stopping", "Stop") if vm.state.is_live else ("starting", "Start")

    def run(yes: bool | None = True) -> None:
        if yes:
            start(host, vm.key, verb, title, lambda: host.actions.start_stop(vm))

    if not (vm.state.is_live and isinstance(host.actions.providers.get(vm.provider), DesktopsApi)):
        run()
        return
    question = ConfirmScreen(
        f"Stop VM {clean(vm.display_name, 60)}?",
        Text(f"{clean(vm.provider, 30)} · {clean(vm.id, 80)} · {vm.state.value}", style="bold"),
        Text(
            DESKTOP_STOP_NOTE
            + (
                ""
                if host.options.checkpoint == "never"
                else " Swiftor cannot commit, so no checkpoint is taken."
            )
        ),
        confirm_label="Stop",
    )
    host.app.push_screen(question, run)


@over_marks("vm.delete")
def delete(host: ActionHost) -> None:
    """`D`: the selected VM, or the commit under the tree's cursor."""
    vm = host.selected_vm()
    if vm is None:
        delete_commit(host)
        return

    def confirmed(yes: bool | None) -> None:
        if yes:
            start(host, vm.key, "deleting", "Delete", lambda: host.actions.delete(vm))

    def confirmed_with_choice(yes: bool | None) -> None:
        if yes:
            checkpoint = question.take_checkpoint
            start(host, vm.key, "deleting", "Delete", lambda: host.actions.delete(vm, checkpoint=checkpoint))

    if isinstance(host.actions.providers.get(vm.provider), DesktopsApi):
        # irreversible (storage, secrets, mappings go too): type the label to confirm
        host.app.push_screen(ConfirmTypedDeleteScreen.for_vm(vm), confirmed)
        return
    fleet = host.fleet.fleet(vm.provider)
    dependent = dependants(fleet.vms, fleet.commits, vm) if fleet else []
    question = ConfirmDeleteScreen(vm, dependent, _checkpoint_policy(host, vm))
    host.app.push_screen(question, confirmed_with_choice)


def _checkpoint_policy(host: ActionHost, vm: Vm) -> str:
    """The configured policy where a checkpoint can be taken (a running VM that can be committed)."""
    capabilities = host.actions.provider(vm.provider).capabilities
    can = capabilities.can_commit and capabilities.can_restore and vm.state.is_live
    return host.options.checkpoint if can else "never"


def undo(host: ActionHost) -> None:
    """`u`: a new VM from the newest checkpoint of the active profile (same labels as before)."""
    profile = host.default_profile()
    start(
        host,
        (profile, ""),
        "restoring",
        "Undo",
        lambda: host.actions.undo(profile),
        _select_new(host, profile),
    )


def ssh(host: ActionHost, *, another: bool = False) -> None:
    """Focus the VM's terminal tab, or open one (`another`: a further tab even if one is open)."""
    vm = host.selected_vm()
    if vm is None:
        return

    def open_terminal(resume_paused: bool) -> None:
        provider = host.actions.providers[vm.provider]
        terminal = host.terminal
        host.app.call_later(terminal.open_session, provider, vm, host.options, resume_paused, another=another)

    if not vm.state.is_paused:  # a booting VM is waited for by the session itself
        open_terminal(False)
        return

    def resume(yes: bool | None) -> None:
        if yes:
            open_terminal(True)

    question = ConfirmScreen(
        f"Resume VM {clean(vm.display_name, 60)}?",
        Text(f"{clean(vm.provider, 30)} · {clean(vm.id, 80)} · {vm.state.value}", style="bold"),
        Text("A terminal needs the VM running. Resume it, then open the terminal?"),
        confirm_label="Resume",
        danger=False,
    )
    host.app.push_screen(question, resume)


def ssh_another(host: ActionHost) -> None:
    ssh(host, another=True)


def terminal_command(command: str) -> Callable[[ActionHost], Awaitable[None]]:
    """A palette entry running a tab command on the open terminals (`TerminalTabs.run_command`)."""

    async def run(host: ActionHost) -> None:
        tabs = host.terminal.tabs
        if tabs is None or not tabs.sessions:
            host.notify("No terminal open (s opens one)", severity="warning", timeout=3)
            return
        await tabs.run_command(command)

    return run


def secrets(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is not None:
        host.app.push_screen(SecretsScreen(host.actions, vm))


def networking(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is not None:
        host.app.push_screen(NetworkingScreen(host.actions, vm))


def exec_command(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is not None:
        host.app.push_screen(ExecScreen(host.exec_runs, vm))


def broadcast(host: ActionHost) -> None:
    targets = host.broadcast_targets()
    if targets:
        host.app.push_screen(BroadcastScreen(host.actions.providers, targets, host.actions.log))


def tunnels(host: ActionHost) -> None:
    host.app.push_screen(TunnelsScreen(host.tunnels, host.actions.providers, host.selected_vm()))


def labels(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is not None:
        host.app.push_screen(LabelsScreen(host.actions, vm))


def rename(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is None:
        return

    def renamed(name: str | None) -> None:
        if name is not None:
            shown = f"now {clean(name, 60)}" if name else "its name label removed"
            host.notify(f"{clean(vm.id, 60)}: {shown}", title="Rename", markup=False)

    host.app.push_screen(RenameScreen(host.actions, vm), renamed)


def resize_disk(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is None:
        return

    def grown(size: int | None) -> None:
        if size is not None:
            host.notify(
                f"Disk of {clean(vm.display_name, 60)} grown to {size} MiB", title="Disk", markup=False
            )

    host.app.push_screen(ResizeDiskScreen(host.actions, vm), grown)


def files(host: ActionHost) -> None:
    vm = host.selected_vm()
    if vm is not None:
        from vmtui.ui.screens.files import FilesScreen  # with SFTP (asyncssh): not on the start path

        provider = host.actions.providers[vm.provider]
        options = host.options
        host.app.push_screen(
            FilesScreen(provider, vm, read_only=options.read_only, keepalive=options.ssh_keepalive)
        )


def env_vars(host: ActionHost) -> None:
    host.app.push_screen(EnvVarsScreen(host.actions, host.default_profile()))


def _focused_item(host: ActionHost) -> Vm | Commit | None:
    """The commit when the tree has one selected (and focus), else the selected VM."""
    commit_ = host.selected_commit()
    return (
        commit_ if commit_ is not None and isinstance(host.app.focused, LineageTree) else host.selected_vm()
    )


def yank(host: ActionHost) -> None:
    item = _focused_item(host)
    if item is not None:
        host.app.copy_to_clipboard(item.id)
        host.notify(f"Copied {clean(item.id, 80)}", timeout=2, markup=False)


def diff(host: ActionHost) -> None:
    """Files changed: from the commit marked as diff base (else the parent commit) to the commit
    selected in the tree, or the selected VM. Asks first when it costs temporary VMs."""
    commit_ = host.selected_commit() if isinstance(host.app.focused, LineageTree) else None
    vm = host.selected_vm()
    if commit_ is not None:
        differ = host.actions.file_differ(commit_.provider)
        request = DiffRequest(differ.base or commit_.grandparent_commit_id, commit_.id)
    elif vm is not None:
        differ = host.actions.file_differ(vm.provider)
        if differ.native and differ.base not in (None, vm.parent_commit_id):
            host.notify(
                "Here a VM is compared with its parent commit only: select a commit in the tree (2) "
                "to compare it with the marked base",
                severity="warning",
                markup=False,
            )
            return
        request = DiffRequest(differ.base or vm.parent_commit_id, vm.id, after_is_vm=True)
    else:
        return
    differ.base = None
    if request.before is None and not (request.after_is_vm and differ.native):
        host.notify(
            "Nothing to compare with: mark a commit as diff base first", severity="warning", markup=False
        )
        return
    cost = differ.cost(request)
    if cost.temporary_vms and host.options.read_only:
        host.notify(
            "read-only mode: comparing files here needs temporary VMs", severity="warning", markup=False
        )
        return

    def go(yes: bool | None = True) -> None:
        if yes:
            from vmtui.ui.screens.file_diff import (
                FileDiffScreen,
            )  # with textual_diff_view: not on the start path

            host.app.push_screen(FileDiffScreen(differ, request))

    if cost.temporary_vms == 0:
        go()
        return
    question = ConfirmScreen(
        "Compare files?",
        Text(clean(request.title, 200), style="bold"),
        Text(cost.describe()),
        confirm_label="Compare",
        danger=False,
    )
    host.app.push_screen(question, go)


def scratch(host: ActionHost) -> None:
    """A throwaway copy of the selected VM (or of the commit selected in the tree) with a terminal tab
    on it; closing the tab deletes the copy (`scratch_closed`)."""
    commit_ = host.selected_commit() if isinstance(host.app.focused, LineageTree) else None
    source = commit_ if commit_ is not None else host.selected_vm()
    if source is None:
        return
    profile = source.provider

    def opened(outcome: Outcome | None) -> None:
        if outcome is not None and outcome.ids:
            host.run_worker(
                _open_scratch(host, profile, outcome.ids[0]), group="scratch", exit_on_error=False
            )

    start(host, source.key, "branching", "Scratch VM", lambda: host.actions.scratch_copy(source), opened)


async def _open_scratch(host: ActionHost, profile: str, vm_id: str) -> None:
    provider = host.actions.provider(profile)
    try:
        vm = await provider.get_vm(vm_id)
    except ProviderError as exc:
        host.notify(clean(exc, 300), title="Scratch VM", severity="error", markup=False)
        return
    host.select_when_listed(profile, vm_id)
    await host.terminal.open_session(provider, vm, host.options, False, another=True)


def scratch_closed(host: ActionHost, key: PendingKey) -> None:
    """The tab of a scratch VM closed: delete the VM, asking first if it was committed to."""
    if key not in host.actions.scratch:
        return

    def discard(yes: bool | None = True) -> None:
        if yes:
            start(host, key, "deleting", "Scratch VM", lambda: host.actions.discard_scratch(key))
        else:
            host.actions.scratch.discard(key)  # kept: an ordinary VM from now on

    async def check() -> None:
        try:
            commits = await host.actions.scratch_commits(key)
        except ProviderError as exc:
            host.notify(clean(exc, 300), title="Scratch VM kept", severity="warning", markup=False)
            return
        if not commits:
            discard()
            return
        question = ConfirmScreen(
            f"Delete scratch VM {clean(key[1], 60)}?",
            Text(f"{clean(key[0], 30)} · {clean(key[1], 80)}", style="bold"),
            Text(f"It was committed to ({len(commits)} commit(s)); the commits stay. Delete the VM?"),
        )
        host.app.push_screen(question, discard)

    host.run_worker(check(), group="scratch", exit_on_error=False)


def mark_diff_base(host: ActionHost) -> None:
    commit_ = host.selected_commit()
    if commit_ is not None:
        host.actions.file_differ(commit_.provider).base = commit_.id
        host.notify(f"d now compares {clean(commit_.id, 80)} with what you select", timeout=3, markup=False)


# ---------------------------------------------------------------------- app and view


def describe(host: ActionHost) -> None:
    item = _focused_item(host)
    if item is not None:
        host.app.push_screen(DescribeScreen(item))


def logs(host: ActionHost) -> None:
    vm = host.selected_vm()
    profile = vm.provider if vm is not None else host.default_profile()
    vm_name = vm.display_name if vm is not None else None
    host.app.push_screen(LogsScreen(profile, host.options.engine_logs.get(profile), vm_name))


def images(host: ActionHost) -> None:
    host.app.push_screen(ImagesScreen(host.actions, host.default_profile(), read_only=host.options.read_only))


def account(host: ActionHost) -> None:
    """`W`: who the default profile's key belongs to, and its server's version and health."""
    profile = host.default_profile()
    provider = host.actions.provider(profile)
    if not isinstance(provider, AccountApi):
        return

    async def show() -> None:
        try:
            document = await account_document(profile, provider)
        except ProviderError as exc:
            host.notify(clean(str(exc), 300), title=f"Account of {profile}", severity="error", markup=False)
            return
        lines = "\n".join(f"{what}: {value}" for what, value in account_lines(document))
        host.notify(lines, title=f"Account of {clean(profile, 40)}", timeout=10, markup=False)

    host.run_worker(show(), group="actions", exit_on_error=False)


def action_log(host: ActionHost) -> None:
    export_dir = host.options.action_log_dir or state_dir() / "action-log"
    host.app.push_screen(ActionLogScreen(host.actions.log, export_dir))


def lineage_graph(host: ActionHost) -> None:
    """The branch graph on a time axis of the selected VM's profile; Enter selects a node back here."""
    vm = host.selected_vm()
    profile = vm.provider if vm is not None else host.default_profile()
    fleet = host.fleet.fleet(profile)
    if fleet is None:
        host.notify("No data yet for this profile", severity="warning", timeout=3, markup=False)
        return

    here = vm.key if vm is not None else None
    screen = LineageGraphScreen(
        fleet, here=here, now=host.options.now, ascii_only=host.options.ascii, on_chosen=host.select_item
    )
    host.app.push_screen(screen)


def refresh(host: ActionHost) -> None:
    host.fleet.wake()
    host.notify("Refreshing…", timeout=1)


def show_help(host: ActionHost) -> None:
    host.show_help()


def leave(host: ActionHost) -> Awaitable[bool]:
    return host.app.run_action("leave")


def quit_now(host: ActionHost) -> None:
    host.app.exit()


def palette(host: ActionHost) -> None:
    host.app.action_command_palette()


def change_theme(host: ActionHost) -> None:
    host.app.action_change_theme()


def screenshot(host: ActionHost) -> None:
    host.app.action_screenshot()
