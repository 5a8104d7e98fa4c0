"""Checkpoints: a commit taken just before a destructive action, so the action can be undone.

A checkpoint is an ordinary commit named `vmtui.checkpoint`; its description keeps what is needed to
bring the VM back as it was (JSON: the VM's id, label and labels). `restore` starts a new VM from the
newest checkpoint with those labels; `prune` deletes the oldest checkpoints beyond a count (a
checkpoint some VM still runs on is kept: the platform refuses, and the next prune tries again).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from vmtui.core.errors import ProviderError
from vmtui.core.models import Commit, Vm
from vmtui.providers.base import LabelsApi, Provider

CHECKPOINT_NAME = "vmtui.checkpoint"
CheckpointPolicy = Literal["always", "ask", "never"]
_EPOCH = datetime.min.replace(tzinfo=UTC)


class CheckpointInfo(BaseModel):
    """What a checkpoint's description records about the VM it was taken from."""

    vm_id: str
    label: str | None = None
    labels: dict[str, str] = {}
    reason: str = "delete"


def is_checkpoint(commit: Commit) -> bool:
    return commit.name == CHECKPOINT_NAME


def checkpoint_info(commit: Commit) -> CheckpointInfo | None:
    """The recorded VM, or None when the description is not a checkpoint's (edited, foreign)."""
    if not is_checkpoint(commit) or not commit.description:
        return None
    try:
        return CheckpointInfo.model_validate_json(commit.description)
    except ValidationError:
        return None


def checkpoints(commits: Iterable[Commit]) -> list[Commit]:
    """The checkpoints among `commits`, newest first."""
    return sorted(
        (c for c in commits if is_checkpoint(c)), key=lambda c: c.created_at or _EPOCH, reverse=True
    )


class Checkpoints:
    """Takes, restores and prunes the checkpoints of one provider."""

    def __init__(self, provider: Provider, keep: int):
        self.provider = provider
        self.keep = keep

    @property
    def supported(self) -> bool:
        caps = self.provider.capabilities
        return caps.can_commit and caps.can_restore

    async def take(self, vm: Vm, reason: str = "delete") -> str:
        """Commit `vm` as a checkpoint; returns the commit id."""
        info = CheckpointInfo(vm_id=vm.id, label=vm.label, labels=dict(vm.labels), reason=reason)
        return await self.provider.commit(vm.id, name=CHECKPOINT_NAME, description=info.model_dump_json())

    async def restore(self, commit: Commit) -> str:
        """A new VM from the checkpoint, with the labels the VM had; returns its id."""
        vm_id = await self.provider.restore(commit.id)
        info = checkpoint_info(commit)
        if info is not None and info.labels and isinstance(self.provider, LabelsApi):
            await self.provider.replace_labels(vm_id, info.labels)
        return vm_id

    async def prune(self) -> list[str]:
        """Delete the oldest checkpoints beyond `keep`; returns the ids deleted."""
        deleted: list[str] = []
        for commit in checkpoints(await self.provider.list_commits())[self.keep :]:
            try:
                await self.provider.delete_commit(commit.id)
            except ProviderError:
                continue  # still in use (a VM runs on it): kept until a later prune
            deleted.append(commit.id)
        return deleted


def checkpoint_title(info: CheckpointInfo | None) -> str:
    """`checkpoint of <name>` for the tree and notifications."""
    if info is None:
        return "checkpoint"
    return f"checkpoint of {info.label or info.labels.get('name') or info.vm_id} before {info.reason}"
