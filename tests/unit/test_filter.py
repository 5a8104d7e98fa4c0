import re

import pytest

from vmtui.core.models import Vm, VmState
from vmtui.services.filter import FilterError, fuzzy_match, parse_filter

WEB = Vm(provider="local", id="vm-web-1", state=VmState.RUNNING, label="webserver", labels={"env": "prod"})
DB = Vm(provider="local", id="vm-db-2", state=VmState.PAUSED, labels={"env": "dev", "tier": "data"})
CI = Vm(provider="vers", id="vm-ci-3", state=VmState.DEAD, parent_commit_id="c0ffee12")
ALL = [WEB, DB, CI]


def ids(text: str) -> list[str]:
    flt = parse_filter(text)
    return [vm.id for vm in ALL if flt.matches(vm)]


def test_empty_filter_matches_everything_and_is_inactive():
    flt = parse_filter("   ")
    assert not flt.active
    assert ids("") == ["vm-web-1", "vm-db-2", "vm-ci-3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wbsrv", []),  # plain text is a substring, not fuzzy
        ("~wbsrv", ["vm-web-1"]),  # ~ opts into fuzzy: letters in order
        ("WEB", ["vm-web-1"]),  # case-insensitive
        ("re:^vm-(web|ci)-", ["vm-web-1", "vm-ci-3"]),
        ("!re:-[12]$", ["vm-ci-3"]),
        ("state:running", ["vm-web-1"]),
        ("state:running,paused", ["vm-web-1", "vm-db-2"]),
        ("!state:dead", ["vm-web-1", "vm-db-2"]),
        ("label:env=prod", ["vm-web-1"]),
        ("label:env", ["vm-web-1", "vm-db-2"]),
        ("!label:env=prod", ["vm-db-2", "vm-ci-3"]),
        ("provider:VERS", ["vm-ci-3"]),
        ("parent:c0f", ["vm-ci-3"]),
        ("label:env !db", ["vm-web-1"]),  # terms are AND-ed
        ('"tier=data"', ["vm-db-2"]),  # labels are searchable as k=v text
        ("zzz", []),
    ],
)
def test_filter_terms(text, expected):
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("state:exploded", "unknown state 'exploded'"),
        ("state:", "state: needs a value"),
        ("colour:red", "unknown filter field 'colour:'"),
        ("label:=x", "label: needs a key"),
        ("!", "'!' must be followed"),
        ('"open', "unbalanced quotes"),
        ("[(*\\", "a trailing \\ escapes nothing"),
        ("re:[(", "bad regular expression '[(': "),
        ("re:", "re: needs a pattern"),
        ("~", "'~' must be followed by text"),
    ],
)
def test_bad_filters_explain_themselves(text, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        parse_filter(text)


def test_fuzzy_match_is_ordered_and_case_insensitive():
    assert fuzzy_match("ABC", "xaxbxc")
    assert not fuzzy_match("cba", "abc")
    assert fuzzy_match("", "anything")


def test_hex_ids_match_as_substrings_not_scattered_letters():
    vms = [Vm(provider="local", id=i, state=VmState.RUNNING) for i in ("86a17f", "8f6b1c7d", "a8617e")]
    flt = parse_filter("8617")
    assert [vm.id for vm in vms if flt.matches(vm)] == ["a8617e"]
