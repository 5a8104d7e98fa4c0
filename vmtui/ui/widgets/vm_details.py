"""The details pane: every field of the selected VM or commit, what its provider can do, how to
reach it, and the last error that concerned it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from vmtui.core.models import Capabilities, Commit, Vm
from vmtui.core.swiftor_plans import routes_of
from vmtui.providers.base import PortMappingsApi
from vmtui.services.actions import Actions
from vmtui.services.fleet import FleetSupervisor
from vmtui.ui.format import clean, format_age
from vmtui.ui.widgets.resource_graphs import ResourceGraphs

_CAPABILITY_FLAGS = (
    "can_branch",
    "can_commit",
    "can_restore",
    "can_pause",
    "can_start_stop",
    "has_ssh",
    "has_exec",
    "has_images",
    "has_secrets",
    "has_networking",
    "memory_snapshots",
)


class VmDetails(VerticalScroll):
    can_focus = True
    ALLOW_MAXIMIZE = True  # a scroll container refuses by default: `3` then `z` did nothing (bug 10)

    def __init__(self, *, now, **kwargs) -> None:
        super().__init__(**kwargs)
        self.now = now
        self._body = Static(Text("Select a VM or commit to see its details.", style="dim"), id="details-body")

    def compose(self):
        yield self._body
        yield ResourceGraphs(id="resource-graphs")

    def show_for(self, item: Vm | Commit | None, actions: Actions, fleet: FleetSupervisor) -> None:
        """Show `item` with what its provider can do, an action in flight and the last error about it."""
        provider = actions.providers.get(item.provider) if item is not None else None
        self.query_one(ResourceGraphs).watch_vm(item if isinstance(item, Vm) else None, provider)
        if item is None:
            self.show(None)
            return
        errors = actions.errors
        error = (
            errors.get(item.key) or errors.get((item.provider, "")) or fleet.open_errors.get(item.provider)
        )
        result = fleet.results.get(item.provider)
        if error is None and result is not None and result.error is not None:
            error = str(result.error)
        reach: list[tuple[str, str]] = []
        if isinstance(item, Vm) and isinstance(provider, PortMappingsApi):
            reach = [("url", provider.desktop_url(item.id))]
            reach += [
                (f"serves {route.path}", f"port {route.port} ({route.service}) inside the VM")
                for route in routes_of(item.image)
            ]
        self.show(
            item,
            capabilities=provider.capabilities if provider else None,
            provider_kind=provider.kind if provider else "",
            pending=actions.pending.get(item.key) if isinstance(item, Vm) else None,
            last_error=error,
            reach=reach,
        )

    def show(
        self,
        item: Vm | Commit | None,
        *,
        capabilities: Capabilities | None = None,
        provider_kind: str = "",
        pending: str | None = None,
        last_error: str | None = None,
        reach: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Show `item`; `reach` are extra (name, value) rows on how to reach a VM (desktop URL, port)."""
        if item is None:
            self._body.update(Text("Select a VM or commit to see its details.", style="dim"))
            return
        rows = self._vm_rows(item, pending, reach) if isinstance(item, Vm) else self._commit_rows(item)
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in rows:
            table.add_row(
                name, value if isinstance(value, Text) else Text(clean(value, 300), overflow="fold")
            )
        parts: list = [table]
        if capabilities is not None:
            parts.append(self._capabilities(capabilities))
        if last_error:
            parts.append(Text.assemble(("last error  ", "bold"), (clean(last_error, 500), "italic")))
        self._body.update(Group(*parts))

    def _when(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        return f"{moment:%Y-%m-%d %H:%M:%S} ({format_age(self.now() - moment.timestamp())} ago)"

    def _vm_rows(
        self, vm: Vm, pending: str | None, reach: Sequence[tuple[str, str]]
    ) -> list[tuple[str, object]]:
        specs = vm.specs
        rows: list[tuple[str, object]] = [
            ("id", vm.id),
            ("name", vm.label or vm.labels.get("name") or "-"),
            ("profile", f"{vm.provider} ({vm.provider_kind})"),
            ("state", vm.state.value + (f"  [{pending}…]" if pending else "")),
            ("created", self._when(vm.created_at)),
            ("image", vm.image or "-"),
            (
                "vcpu / mem / disk",
                f"{specs.vcpu_count or '-'} / {specs.mem_size_mib or '-'} MiB / {specs.fs_size_mib or '-'} MiB",
            ),
            *(
                [("storage", "persistent" if specs.persistent_storage else "ephemeral")]
                if specs.persistent_storage is not None
                else []
            ),
            ("ip", vm.ip or "-"),
            ("region", vm.region or "-"),
            ("owner", vm.owner_id or "-"),
            ("parent commit", vm.parent_commit_id or "-"),
            ("parent VM", vm.grandparent_vm_id or "-"),
            ("labels", ", ".join(f"{k}={v}" for k, v in sorted(vm.labels.items())) or "-"),
        ]
        rows += [(f"  {clean(key, 30)}", value) for key, value in sorted(vm.extra.items())]
        rows += list(reach)
        rows.append(
            ("ssh", Text(f"vmtui ssh --profile {clean(vm.provider, 40)} {clean(vm.id, 80)}", style="italic"))
        )
        return rows

    def _commit_rows(self, commit: Commit) -> list[tuple[str, object]]:
        return [
            ("commit", commit.id),
            ("name", commit.name or "-"),
            ("description", commit.description or "-"),
            ("profile", commit.provider),
            ("created", self._when(commit.created_at)),
            ("from VM", commit.parent_vm_id or "-"),
            ("parent commit", commit.grandparent_commit_id or "-"),
            ("public", "yes" if commit.is_public else "no"),
            ("owner", commit.owner_id or "-"),
            (
                "keys",
                Text(
                    "r new VM · b N VMs · M edit · U publish · H history · D delete · T tags", style="italic"
                ),
            ),
        ]

    def _capabilities(self, capabilities: Capabilities) -> Text:
        text = Text("can  ", style="bold")
        for flag in _CAPABILITY_FLAGS:
            name = flag.removeprefix("can_").removeprefix("has_").replace("_", " ")
            on = getattr(capabilities, flag)
            text.append(name, style="" if on else "dim strike")
            text.append("  ")
        return text
