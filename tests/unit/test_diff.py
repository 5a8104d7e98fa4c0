from vmtui.core.diff import diff_by_key
from vmtui.core.models import Vm, VmState


def test_keyed_diff():
    a = Vm(provider="p", id="a", state=VmState.RUNNING)
    b = Vm(provider="p", id="b", state=VmState.RUNNING)
    old = {a.key: a, b.key: b}
    b2 = b.model_copy(update={"state": VmState.PAUSED})
    c = Vm(provider="p", id="c")
    d = diff_by_key(old, [b2, c, c])
    assert d.added == [c]
    assert d.changed == [b2]
    assert d.removed == [a.key]
    assert diff_by_key({a.key: a}, [a]).empty
