"""`unavailable`: one pure function gives every greyed-out key, help line and palette entry its reason."""

from tests.ui.demo_provider import DemoProvider
from vmtui.core.models import Capabilities, Commit, Vm, VmState
from vmtui.services.availability import Needs, Requirement, Selection, unavailable


class Limited(DemoProvider):
    kind = "swiftor"
    capabilities = Capabilities(can_pause=True, can_start_stop=True)


RUNNING = Vm(provider="cloud", id="a", state=VmState.RUNNING)
DEAD = Vm(provider="cloud", id="b", state=VmState.DEAD)
PROVIDERS = {"cloud": Limited("cloud", vms=[RUNNING, DEAD])}
PAUSE = Requirement(Needs.VM, "can_pause", live=True, writes=True)


def reason(requirement, selection, pending=None, read_only=False):
    return unavailable(requirement, selection, PROVIDERS, pending or {}, read_only=read_only)


def test_capability_state_and_in_flight_each_give_their_reason():
    on_running = Selection("cloud", vm=RUNNING)
    assert reason(Requirement(Needs.VM, "can_branch", live=True), on_running) == "swiftor VMs cannot branch"
    assert reason(Requirement(Needs.PROFILE, "has_images"), on_running) == "swiftor has no images"
    assert reason(PAUSE, on_running) is None
    assert reason(PAUSE, Selection("cloud", vm=DEAD)) == "VM is dead"
    assert reason(PAUSE, on_running, {RUNNING.key: "pausing"}) == "pausing already in progress"
    assert (
        reason(Requirement(Needs.PROFILE, "can_create"), Selection("nowhere"))
        == "profile 'nowhere' is not active"
    )


def test_power_does_not_need_a_live_vm_but_needs_the_capability():
    power = Requirement(Needs.VM, "can_start_stop", writes=True)
    stopped = Vm(provider="cloud", id="c", state=VmState.STOPPED)
    assert reason(power, Selection("cloud", vm=stopped)) is None
    local = {"local": DemoProvider("local")}
    on_local = Selection("local", vm=Vm(provider="local", id="d", state=VmState.RUNNING))
    assert unavailable(power, on_local, local, {}) == "demo VMs cannot start/stop"


def test_missing_selection_and_read_only_mode():
    commit = Commit(provider="cloud", id="c-1")
    restore = Requirement(Needs.COMMIT, "can_restore", writes=True)
    assert reason(restore, Selection("cloud")) == "select a commit in the tree (2)"
    assert reason(restore, Selection("cloud", commit=commit)) == "swiftor VMs cannot restore"
    assert reason(PAUSE, Selection("cloud")) == "no VM selected"
    assert reason(PAUSE, Selection("cloud", vm=RUNNING), read_only=True) == "read-only mode"
    ssh_like = Requirement(Needs.VM, "can_pause", live=True)  # reads only: allowed in read-only mode
    assert reason(ssh_like, Selection("cloud", vm=RUNNING), read_only=True) is None
    assert reason(Requirement(Needs.SELECTION), Selection("cloud")) == "nothing selected"
    assert reason(Requirement(Needs.SELECTION), Selection("cloud", commit=commit)) is None
    assert reason(Requirement(), Selection("nowhere")) is None


def test_a_target_is_the_vm_or_else_the_commit_with_the_commits_own_reasons():
    branch = Requirement(Needs.TARGET, "can_branch", live=True, writes=True)
    commit = Commit(provider="local", id="c1")
    local = {"local": DemoProvider("local"), **PROVIDERS}
    on_commit = Selection("local", commit=commit)
    assert unavailable(branch, on_commit, local, {}) is None  # no liveness asked of a commit
    assert unavailable(branch, on_commit, local, {commit.key: "branching"}) == "branching already in progress"
    assert unavailable(branch, on_commit, local, {}, read_only=True) == "read-only mode"
    with_vm = Selection("cloud", vm=RUNNING, commit=commit)  # the VM wins when there is one
    assert unavailable(branch, with_vm, local, {}) == "swiftor VMs cannot branch"
    assert unavailable(branch, Selection("local"), local, {}) == "no VM selected"


def test_exec_broadcast_and_tunnels_are_greyed_where_the_provider_has_no_exec_or_ssh():
    from vmtui.ui.actions import BY_ID

    on_running = Selection("cloud", vm=RUNNING)
    assert reason(BY_ID["vm.exec"].requires, on_running) == "swiftor has no exec"
    assert reason(BY_ID["vm.broadcast"].requires, on_running) == "swiftor has no exec"
    assert reason(BY_ID["vm.tunnels"].requires, on_running) == "swiftor has no ssh"
    assert reason(BY_ID["vm.exec"].requires, on_running, read_only=True) == "read-only mode"
    assert reason(BY_ID["vm.tunnels"].requires, on_running, read_only=True) == "swiftor has no ssh"


def test_labels_disk_files_and_environment_are_greyed_with_a_reason_where_missing():
    from vmtui.ui.actions import BY_ID

    on_running = Selection("cloud", vm=RUNNING)
    reasons = {
        action: reason(BY_ID[action].requires, on_running)
        for action in ("vm.rename", "vm.labels", "vm.resize", "vm.files", "app.env")
    }
    assert reasons == {
        "vm.rename": "swiftor has no labels",
        "vm.labels": "swiftor has no labels",
        "vm.resize": "swiftor VMs cannot resize",
        "vm.files": "swiftor has no ssh",
        "app.env": "swiftor has no environment",
    }
    assert reason(BY_ID["vm.rename"].requires, on_running, read_only=True) == "read-only mode"
    assert reason(BY_ID["vm.files"].requires, Selection("cloud", vm=DEAD)) == "swiftor has no ssh"
