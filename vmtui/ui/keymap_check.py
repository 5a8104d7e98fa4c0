"""Checking `[ui] keymap` before it is applied: Textual accepts any id and any key silently.

An entry naming an id no binding has, or giving an action a key another action of the main screen still
uses (that action would lose it), gets a warning naming both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding

from vmtui.ui.actions import REGISTRY


def _bindings(owners: Iterable[type]) -> list[Binding]:
    return [b for owner in owners for b in getattr(owner, "BINDINGS", ()) if isinstance(b, Binding) and b.id]


def keymap_problems(keymap: Mapping[str, str], owners: Iterable[type]) -> list[str]:
    """One sentence per problem in `keymap` (id → keys); `owners` are the classes whose bindings the
    main screen shows alongside the registry's (the VM list, the terminal, dialogs)."""
    shared = [action.binding() for action in REGISTRY if action.key]
    known = {b.id for b in [*shared, *_bindings(owners)]}
    default_owner = {key.strip(): b.id for b in shared for key in b.key.split(",")}
    problems = []
    for ident, keys in keymap.items():
        if ident not in known:
            problems.append(f"keymap: no action has the id '{ident}'")
            continue
        for key in (k.strip() for k in keys.split(",")):
            owner = default_owner.get(key)
            if owner is not None and owner != ident and owner not in keymap:
                problems.append(f"keymap: '{ident} = {key}' takes {key} from {owner}, which loses its key")
    return problems
