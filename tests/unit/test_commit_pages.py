"""Commits come page by page: a poll fetches the first page (newest first) and how many there are, not
all 10,000; each "more" adds a page; tags are listed beside the commits (not at all while there are none)."""

from __future__ import annotations

from tests.contract.fakes import SeedVers, TodayVers
from tests.contract.test_vers_dialects import provider_for
from vmtui.services.poller import COMMIT_PAGE, Poller


def commit_requests(server) -> int:
    return sum(1 for method, path in server.paths if (method, path) == ("GET", "/api/v1/commits"))


async def test_a_poll_fetches_one_page_of_a_big_commit_list_until_more_is_asked_for():
    server = TodayVers()
    vm_id = server.add_vm()
    for n in range(10_000):
        server.commits[f"c{n:05}"] = vm_id
    server.tags["stable"] = {
        "tag_id": "t1",
        "tag_name": "stable",
        "commit_id": "c00000",
        "description": None,
        "created_at": "2026-06-19T10:00:00Z",
        "updated_at": "2026-06-19T10:00:00Z",
    }
    provider = provider_for(server)
    poller = Poller(provider, lambda result: None)
    fleet = (await poller.tick()).fleet
    assert (len(fleet.commits), fleet.commits_total, commit_requests(server)) == (COMMIT_PAGE, 10_000, 1)
    assert [tag.name for tag in fleet.tags] == ["stable"]

    poller.want_more_commits()
    fleet = (await poller.tick()).fleet
    assert (len(fleet.commits), fleet.commits_total) == (2 * COMMIT_PAGE, 10_000)
    assert len({c.id for c in fleet.commits}) == 2 * COMMIT_PAGE and commit_requests(server) == 3
    await provider.aclose()


async def test_a_short_list_is_one_page_and_no_commits_need_no_tags():
    server = SeedVers()  # no commit list, no tags
    server.add_vm()
    provider = provider_for(server)
    poller = Poller(provider, lambda result: None)
    for _ in range(2):
        fleet = (await poller.tick()).fleet
        assert (fleet.commits, fleet.commits_total, fleet.tags) == ((), 0, ())
    assert not any(path.endswith("/commit_tags") for _, path in server.paths)  # no commits: no tag list

    today = TodayVers()
    vm_id = today.add_vm()
    today.commits["c1"] = vm_id
    provider = provider_for(today)
    poller = Poller(provider, lambda result: None)
    poller.want_more_commits()  # a second page is wanted, but the first is the whole list
    fleet = (await poller.tick()).fleet
    assert ([c.id for c in fleet.commits], fleet.commits_total, commit_requests(today)) == (["c1"], 1, 1)
    await provider.aclose()


async def test_the_selected_vms_commit_is_looked_up_by_id_when_its_page_is_not_fetched():
    server = TodayVers()
    root = server.add_vm()
    for n in range(3 * COMMIT_PAGE):
        server.commits[f"c{n:05}"] = root
    old = "c00299"  # on the third page
    child = server.add_vm()
    server.vms[child].parent_commit_id = old
    provider = provider_for(server)
    seen = []
    poller = Poller(provider, seen.append)
    fleet = (await poller.tick()).fleet
    assert old not in {c.id for c in fleet.commits}

    await poller.look_up_commit(old)
    assert old in {c.id for c in seen[-1].fleet.commits}  # handed on at once
    await poller.look_up_commit(old)  # known now: no second request
    parents = [p for _, p in server.paths if p.endswith("/parents")]
    assert parents == [f"/api/v1/vm/commits/{old}/parents"]
    fleet = (await poller.tick()).fleet
    assert old in {c.id for c in fleet.commits} and len(fleet.commits) == COMMIT_PAGE + 1

    poller.want_more_commits()
    poller.want_more_commits()
    fleet = (await poller.tick()).fleet  # now on a fetched page: the looked-up copy is dropped
    assert len(fleet.commits) == 3 * COMMIT_PAGE  # each once
    await provider.aclose()
