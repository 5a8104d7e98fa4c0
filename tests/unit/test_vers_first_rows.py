"""A big first list's first rows, handed on before the rest is converted (`list_vms_first`): the very rows
the table shows on top once the whole list is indexed, for every column and direction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import httpx
import pytest

from vmtui.core.errors import BadResponse
from vmtui.core.models import Vm
from vmtui.providers import vers
from vmtui.providers.base import FirstRows, FirstRowsList
from vmtui.providers.vers import FIRST_ROWS_FROM, VersProvider
from vmtui.services.vm_index import VmIndex
from vmtui.ui.widgets.vm_table import COLUMNS

COUNT = FIRST_ROWS_FROM + 2_000
FIRST = 200
STATES = ("running", "Paused", "sleeping", "booting", None, "weird")
EARLY_COLUMNS = [column.key for column in COLUMNS if column.key != "parent"]


def item(index: int) -> dict:
    """Few distinct values per field, so every column has long runs of ties (ordered by id)."""
    raw: dict = {"vm_id": f"vm-{(index * 7919) % COUNT:05d}", "state": STATES[index % len(STATES)]}
    if index % 5:
        raw["created_at"] = f"2026-04-{1 + index % 9:02d}T12:00:00{'Z' if index % 2 else '+02:00'}"
    if index % 3 == 0:
        raw["alias"] = f"Box-{index % 11}"
    if index % 4 == 0:
        raw["labels"] = {"name": f"web-{index % 13}", "team": "ab"[index % 2]}
    elif index % 4 == 1:
        raw["labels"] = {"team": "ab"[index % 2]}
    return raw


ITEMS = [item(index) for index in range(COUNT)]
ALIASES = {ITEMS[index]["vm_id"]: f"alias-{index % 17}" for index in range(0, COUNT, 10)}


def provider_for(items: list) -> VersProvider:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=items))
    return VersProvider("p", "https://api.vers.sh", "key", transport=transport, aliases=ALIASES)


def top_rows(vms: list[Vm], column: str, reverse: bool) -> list[tuple[str, str]]:
    """The first rows the VM table shows for `vms`, sorted by `column`, once all of them are indexed."""
    index = VmIndex({c.key: c.sort_value for c in COLUMNS}, column)
    index.sort_by(column, reverse)
    index.apply(vms)
    while index.loading:
        index.load()
    return index.keys(0, FIRST)


class Deliveries:
    """Records each delivery and how many list items had been converted when it came."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.converted = 0
        self.calls: list[tuple[list[Vm], int, int]] = []
        checked = vers.checked_list_item

        def counting(raw, provider, aliases):
            self.converted += 1
            return checked(raw, provider, aliases)

        monkeypatch.setattr(vers, "checked_list_item", counting)

    def __call__(self, vms: list[Vm], total: int) -> None:
        self.calls.append((vms, total, self.converted))


@pytest.mark.parametrize("reverse", [False, True], ids=["ascending", "reversed"])
@pytest.mark.parametrize("column", EARLY_COLUMNS)
async def test_the_first_rows_are_the_tables_top_rows_and_come_before_the_rest(monkeypatch, column, reverse):
    delivered = Deliveries(monkeypatch)
    provider = provider_for(ITEMS)
    assert isinstance(provider, FirstRowsList)

    listed = await provider.list_vms_first(FirstRows(lambda: (column, reverse), delivered, FIRST))

    assert len(delivered.calls) == 1
    first, total, converted_then = delivered.calls[0]
    assert total == COUNT and len(listed) == COUNT
    assert converted_then == FIRST  # only the first rows were converted when they were handed on
    assert delivered.converted == COUNT  # and each item once in all
    assert top_rows(first, column, reverse) == top_rows(listed, column, reverse)
    listed_by_id = {vm.id: vm for vm in listed}
    assert all(listed_by_id[vm.id] is vm for vm in first)  # the same objects: no change for the index


UTC_ITEMS = [
    {
        "vm_id": f"vm-{(index * 7919) % COUNT:05d}",
        "created_at": f"2026-04-{1 + index % 9:02d}T12:{index % 7:02d}:00Z",
    }
    for index in range(COUNT)
]
"""Times in one UTC layout, with long runs of ties: the first rows are found by their text."""


@pytest.mark.parametrize("reverse", [False, True], ids=["newest", "oldest"])
async def test_utc_times_in_one_layout_find_the_first_rows_by_text(monkeypatch, reverse):
    candidates = vers._newest_by_text(UTC_ITEMS, FIRST, reverse)
    assert candidates is not None and FIRST <= len(candidates) < COUNT // 10  # few need a parsed time

    delivered = Deliveries(monkeypatch)
    provider = provider_for(UTC_ITEMS)
    listed = await provider.list_vms_first(FirstRows(lambda: ("age", reverse), delivered, FIRST))
    [(first, _total, _converted)] = delivered.calls
    assert top_rows(first, "age", reverse) == top_rows(listed, "age", reverse)


@pytest.mark.parametrize(
    "odd", ["2026-04-09T12:06:00+00:00", "2026-04-09 12:06:00Z", "2026-04-09T12:06:00.5Z", None]
)
def test_times_in_another_layout_are_not_ordered_by_text(odd):
    items = [*UTC_ITEMS[:-1], {"vm_id": "vm-odd", "created_at": odd}]
    assert vers._newest_by_text(items, FIRST, False) is None


async def test_the_rest_is_converted_only_once_the_first_rows_are_shown(monkeypatch):
    delivered = Deliveries(monkeypatch)
    shown = asyncio.Event()

    def deliver(vms: list[Vm], total: int) -> Awaitable[None]:
        delivered(vms, total)
        return shown.wait()

    first = FirstRows(lambda: ("age", False), deliver, FIRST)
    listing = asyncio.create_task(provider_for(ITEMS).list_vms_first(first))
    for _ in range(50):  # many turns of the loop, as drawing the first rows takes: none converts the rest
        await asyncio.sleep(0)
    assert len(delivered.calls) == 1 and delivered.converted == FIRST and not listing.done()
    shown.set()
    assert len(await listing) == COUNT and delivered.converted == COUNT


async def test_first_rows_never_shown_hold_the_rest_back_only_briefly(monkeypatch):
    delivered = Deliveries(monkeypatch)
    monkeypatch.setattr(vers, "FIRST_ROWS_SHOWN_WAIT", 0.0)
    never = asyncio.Event()

    def deliver(vms: list[Vm], total: int) -> Awaitable[None]:
        delivered(vms, total)
        return never.wait()

    listed = await provider_for(ITEMS).list_vms_first(FirstRows(lambda: ("age", False), deliver, FIRST))
    assert len(listed) == COUNT and len(delivered.calls) == 1


@pytest.mark.parametrize("column", EARLY_COLUMNS)
def test_a_raw_sort_value_is_the_tables_sort_value_of_the_converted_vm(column):
    raw_value = vers._raw_sort_value(column, "p", ALIASES)
    table_value = next(c.sort_value for c in COLUMNS if c.key == column)
    assert raw_value is not None
    for raw in ITEMS[:500]:
        vm = vers.checked_list_item(raw, "p", ALIASES)
        assert vm is not None
        assert raw_value(raw) == table_value(vm), raw


async def test_the_parent_column_hands_on_the_whole_list_only(monkeypatch):
    """Lineage enrichment may fill in a VM's parent after the list: its order is not the raw items'."""
    delivered = Deliveries(monkeypatch)
    listed = await provider_for(ITEMS).list_vms_first(FirstRows(lambda: ("parent", False), delivered, FIRST))
    assert delivered.calls == [] and len(listed) == COUNT


async def test_a_short_list_comes_whole(monkeypatch):
    delivered = Deliveries(monkeypatch)
    short = ITEMS[:FIRST_ROWS_FROM]
    listed = await provider_for(short).list_vms_first(FirstRows(lambda: ("age", False), delivered, FIRST))
    assert delivered.calls == [] and len(listed) == FIRST_ROWS_FROM


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"vm_id": "vm-x", "alias": 5}, "alias"),
        ({"vm_id": "vm-x", "created_at": "yesterday"}, "created_at"),
        ({"id": "vm-x", "labels": {"team": 3}}, "labels"),
        ("vm-x", "VM list item"),
    ],
    ids=["number-as-name", "bad-time", "bad-label", "not-an-object"],
)
async def test_a_bad_item_still_gives_a_clear_error_and_no_early_rows(monkeypatch, bad, named):
    """An item whose sort value cannot be read hands nothing on early; the list then fails as it always
    did, naming the item, so no partial list is shown as if it were the fleet."""
    delivered = Deliveries(monkeypatch)
    middle = len(ITEMS) // 2
    items = [*ITEMS[:middle], bad, *ITEMS[middle:]]
    column = "age" if named == "created_at" else "name" if named == "alias" else "labels"
    with pytest.raises(BadResponse) as caught:
        await provider_for(items).list_vms_first(FirstRows(lambda: (column, False), delivered, FIRST))
    assert f"VM list item {middle}" in str(caught.value) and named in str(caught.value)
    assert delivered.calls == []
