"""The `/` filter language of the VM list. Pure: no I/O, no Textual.

Grammar: whitespace-separated terms, all of which must match (AND). Double quotes group words.

- `text`          substring (case-insensitive) of id, name, labels (`k=v`), image or provider; a
                  substring because ids are hex: a fuzzy `8617` matched three unrelated VMs
- `~text`         fuzzy match instead (letters in order), opt-in
- `re:pattern`    regular expression (case-insensitive search) instead
- `state:running` VM state; several states with commas (`state:running,paused`)
- `label:k=v`     label `k` equals `v`; `label:k` means "has label k"
- `provider:name` profile the VM came from
- `parent:id`     parent commit id starts with `id`
- `!term`         negation of any term (`!state:dead`, `!label:env=prod`, `!web`)
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from vmtui.core.models import Vm, VmState

FIELDS = ("state", "label", "provider", "parent", "re")


class FilterError(ValueError):
    """The filter text cannot be understood; the message says why, for the user."""


Predicate = Callable[[Vm, str], bool]
"""Whether a VM matches, given the VM and its `search_text`."""


def fuzzy_match(needle: str, haystack: str) -> bool:
    """True when every character of `needle` appears in `haystack` in order (case-insensitive)."""
    if not needle:
        return True
    position = 0
    hay = haystack.lower()
    for char in needle.lower():
        position = hay.find(char, position)
        if position < 0:
            return False
        position += 1
    return True


@dataclass(frozen=True)
class VmFilter:
    text: str = ""
    terms: tuple[Predicate, ...] = field(default=(), repr=False, compare=False)

    @property
    def active(self) -> bool:
        return bool(self.terms)

    def matches(self, vm: Vm, text: str | None = None) -> bool:
        """`text` is the VM's `search_text` when the caller keeps it (the VM list does, per row)."""
        if not self.terms:
            return True
        if text is None:
            text = search_text(vm)
        for term in self.terms:  # a loop, not all(generator): called per row over 100,000 rows
            if not term(vm, text):
                return False
        return True


def parse_filter(text: str) -> VmFilter:
    """Parse the filter text; raises FilterError with a user-facing message on bad input."""
    try:
        words = shlex.split(text)
    except ValueError:
        if text.count('"') % 2 or text.count("'") % 2:
            raise FilterError("unbalanced quotes: close the \" or ' (quotes group words)") from None
        raise FilterError(r"a trailing \ escapes nothing: write \\ for a backslash") from None
    return VmFilter(text=text.strip(), terms=tuple(_parse_term(word) for word in words))


def _parse_term(word: str) -> Predicate:
    negate = word.startswith("!")
    body = word[1:] if negate else word
    if not body:
        raise FilterError("'!' must be followed by a term, e.g. !state:dead")
    predicate = _parse_positive(body)
    if negate:
        return lambda vm, text: not predicate(vm, text)
    return predicate


def _parse_positive(body: str) -> Predicate:
    if body.startswith("~"):
        return _text_term(body[1:], fuzzy_match)
    name, sep, value = body.partition(":")
    if not sep or not name.isidentifier():
        return _substring_term(body)
    name = name.lower()
    if name == "state":
        return _state_term(value)
    if name == "label":
        return _label_term(value)
    if name == "provider":
        return lambda vm, _text: vm.provider.lower() == value.lower()
    if name == "re":
        return _regex_term(value)
    if name == "parent":
        return lambda vm, _text: (vm.parent_commit_id or "").startswith(value)
    raise FilterError(f"unknown filter field '{name}:' (use {', '.join(f + ':' for f in FIELDS)})")


def _haystacks(vm: Vm) -> list[str]:
    return [vm.id, vm.display_name, vm.provider, vm.image or "", *(f"{k}={v}" for k, v in vm.labels.items())]


SEPARATOR = "\0"
"""Between the fields of `search_text`: a substring never matches across two of them."""


def search_text(vm: Vm) -> str:
    """Every field a substring term searches, lower-case, in one string (made once per VM change)."""
    return SEPARATOR.join(_haystacks(vm)).lower()


def _substring_term(needle: str) -> Predicate:
    lowered = needle.lower().replace(SEPARATOR, "")
    return lambda _vm, text: lowered in text


def _text_term(needle: str, match: Callable[[str, str], bool]) -> Predicate:
    if not needle:
        raise FilterError("'~' must be followed by text, e.g. ~wbsrv")
    return lambda vm, _text: any(match(needle, hay) for hay in _haystacks(vm))


def _regex_term(pattern: str) -> Predicate:
    if not pattern:
        raise FilterError("re: needs a pattern, e.g. re:^web-[0-9]+$")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise FilterError(f"bad regular expression {pattern!r}: {exc.msg}") from None
    return lambda vm, _text: any(compiled.search(hay) for hay in _haystacks(vm))


def _state_term(value: str) -> Predicate:
    names = [part for part in value.lower().split(",") if part]
    if not names:
        raise FilterError("state: needs a value, e.g. state:running")
    valid = {state.value for state in VmState}
    bad = [name for name in names if name not in valid]
    if bad:
        raise FilterError(f"unknown state '{bad[0]}' (one of: {', '.join(sorted(valid))})")
    wanted = {VmState(name) for name in names}
    return lambda vm, _text: vm.state in wanted


def _label_term(value: str) -> Predicate:
    key, sep, expected = value.partition("=")
    if not key:
        raise FilterError("label: needs a key, e.g. label:env=prod or label:env")
    if not sep:
        return lambda vm, _text: key in vm.labels
    return lambda vm, _text: vm.labels.get(key) == expected
