import pytest
from pydantic import ValidationError

from vmtui.core.models import Capabilities, Commit, Vm, VmConfig, VmState


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("booting", VmState.BOOTING),
        ("running", VmState.RUNNING),
        ("Running", VmState.RUNNING),
        ("Paused", VmState.PAUSED),
        ("paused", VmState.PAUSED),
        ("sleeping", VmState.SLEEPING),
        ("dead", VmState.DEAD),
        ("not_started", VmState.STOPPED),
        ("Not started", VmState.STOPPED),
        ("  RUNNING ", VmState.RUNNING),
        ("exploded", VmState.UNKNOWN),
        (None, VmState.UNKNOWN),
        (3, VmState.UNKNOWN),
    ],
)
def test_state_normalises_every_spelling(raw, expected):
    assert VmState.parse(raw) is expected


def test_only_booting_is_transitional():
    assert [s for s in VmState if s.is_transitional] == [VmState.BOOTING]


def test_vm_key_and_display_name():
    vm = Vm(provider="local", id="abc", labels={"name": "web"})
    assert vm.key == ("local", "abc")
    assert vm.display_name == "web"
    assert Vm(provider="local", id="abc").display_name == "abc"
    assert Vm(provider="sw", id="1", label="Desk").display_name == "Desk"


def test_vm_is_frozen():
    vm = Vm(provider="local", id="abc")
    with pytest.raises(ValidationError):
        vm.id = "other"


def test_vm_config_rejects_nonsense():
    with pytest.raises(ValidationError):
        VmConfig(vcpu_count=0)
    with pytest.raises(ValidationError):
        VmConfig(mem_size_mib=1)
    assert VmConfig().model_dump(exclude_none=True) == {}


def test_capability_reasons():
    caps = Capabilities(can_branch=True)
    assert caps.reason_missing("can_branch", "Vers") is None
    assert caps.reason_missing("can_pause", "Swiftor") == "Swiftor VMs cannot pause"
    assert caps.reason_missing("has_secrets", "Vers") == "Vers has no secrets"


def test_one_line_escapes_or_replaces_unsafe_characters_and_cuts_to_the_limit():
    from vmtui.core.text import one_line

    hostile = "ok\x1b[31m\u202eevil\u2028\ud800\u200b"
    assert one_line(hostile, 100) == "ok\\x1b[31m\\u202eevil\\u2028\\ud800\\u200b"
    assert one_line(hostile, 100, placeholder="?") == "ok?[31m?evil???"
    assert one_line("y" * 10, 10) == "y" * 10
    assert one_line("y" * 11, 10) == "y" * 9 + "…"
    assert one_line("a\x1bbc", 4) == "a…"  # an escape is never cut in half


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("golden image", "golden image"),
        (None, None),
        ("commit: of_vm=6b1c0f2e-2d4c-4bd4-9f4e-1f0e3c2a9b77 timestamp=2026-12-04T13:47:57Z", None),
        ("commit: of_vm=vm-1 timestamp=2026-12-04 13:47:57.123 UTC", None),
        ("commit: of_vm=vm-1", "commit: of_vm=vm-1"),  # not the platform's whole pattern: a person's name
        ("before commit: of_vm=vm-1 timestamp=1", "before commit: of_vm=vm-1 timestamp=1"),
    ],
)
def test_a_commit_title_leaves_out_the_name_vers_gives_unnamed_commits(name, title):
    commit = Commit(provider="p", id="c1", name=name)
    assert commit.title == title
    assert commit.display_name == (title or "c1")
