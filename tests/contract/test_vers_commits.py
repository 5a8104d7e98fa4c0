"""Commits and commit tags through VersProvider against the seed-only and today-only fake servers:
listing (paged), publish/edit, delete, ancestry, branch from a commit or a tag; the seed's API has no
commit admin or tags, and says so clearly."""

from __future__ import annotations

import httpx
import pytest
from vers_sdk import models as sdk

from tests.contract.fakes import SeedVers, TodayVers
from tests.contract.strict import strict
from tests.contract.test_vers_dialects import dialect, provider_for  # noqa: F401 - the fixture
from vmtui.core.errors import BadRequest, Conflict, NotFound, Unsupported
from vmtui.providers.base import CommitTagsApi
from vmtui.providers.vers import PAGE_SIZE


async def test_branch_from_a_commit_works_on_both_and_remembers_the_route(dialect):  # noqa: F811
    server, provider = dialect
    vm_id = server.add_vm()
    commit_id = await provider.commit(vm_id)
    first = await provider.branch_commit(commit_id)
    second = await provider.branch_commit(commit_id)
    assert len(first) == len(second) == 1 and first != second
    assert all(server.vms[v].parent_commit_id == commit_id for v in [*first, *second])
    posts = [path for method, path in server.paths if method == "POST" and "branch" in path]
    if isinstance(server, TodayVers):
        assert posts == [f"/api/v1/vm/branch/by_commit/{commit_id}"] * 2
    else:  # the seed has no by_commit route: one miss, then its generic branch, remembered
        by_commit, generic = f"/api/v1/vm/branch/by_commit/{commit_id}", f"/api/v1/vm/{commit_id}/branch"
        assert posts == [by_commit, generic, generic]


async def test_commits_are_listed_page_by_page_on_todays_api():
    server = TodayVers()
    provider = provider_for(server)
    vm_id = server.add_vm()
    for n in range(PAGE_SIZE + 5):
        server.commits[f"c{n:03}"] = vm_id
    commits = await provider.list_commits()
    assert [c.id for c in commits] == sorted(server.commits)
    pages = [p for m, p in server.paths if p == "/api/v1/commits"]
    assert len(pages) == 2
    await provider.aclose()


async def test_publish_edit_history_and_delete_a_commit_on_todays_api():
    server = TodayVers()
    provider = provider_for(server)
    root = server.add_vm()
    base = await provider.commit(root, name="base")
    [child] = await provider.branch_commit(base)
    top = await provider.commit(child)
    updated = await provider.update_commit(top, is_public=True, name="top", description="with deps")
    assert (updated.id, updated.is_public, updated.name, updated.description) == (
        top,
        True,
        "top",
        "with deps",
    )
    assert server.requests[-1][2] == {"is_public": True, "name": "top", "description": "with deps"}
    unpublished = await provider.update_commit(top, is_public=False)
    assert not unpublished.is_public and unpublished.name == "top"
    assert [c.id for c in await provider.commit_parents(top)] == [top, base]
    with pytest.raises(Conflict):
        await provider.delete_commit(base)  # a VM was started from it
    await provider.delete_commit(top)
    assert top not in server.commits
    with pytest.raises(NotFound):
        await provider.update_commit(top, is_public=True)
    await provider.aclose()


async def test_tags_create_move_list_branch_and_delete_on_todays_api():
    server = TodayVers()
    provider = provider_for(server)
    assert isinstance(provider, CommitTagsApi) and provider.capabilities.has_tags
    vm_id = server.add_vm()
    first, second = await provider.commit(vm_id), await provider.commit(vm_id)
    await provider.create_tag("stable", first, "known good")
    [tag] = await provider.list_tags()
    assert (tag.name, tag.commit_id, tag.description) == ("stable", first, "known good")
    with pytest.raises(Conflict):
        await provider.create_tag("stable", second)
    await provider.move_tag("stable", second)
    assert server.requests[-1][2] == {"commit_id": second}
    [moved] = await provider.list_tags()
    assert moved.commit_id == second and moved.description == "known good"
    [new_vm] = await provider.branch_tag("stable")
    assert server.vms[new_vm].parent_commit_id == second
    await provider.delete_tag("stable")
    assert await provider.list_tags() == []
    with pytest.raises(NotFound):
        await provider.delete_tag("stable")
    with pytest.raises(BadRequest):
        await provider.create_tag("..", first)
    await provider.aclose()


async def test_the_seeds_api_has_no_tags_and_says_so():
    server = SeedVers()
    provider = provider_for(server)
    with pytest.raises(Unsupported, match="no commit tags"):
        await provider.list_tags()
    assert await provider.list_commits() == []
    await provider.aclose()


def test_todays_fake_commit_and_tag_answers_decode_strictly_into_the_sdk_models():
    server = TodayVers()
    vm_id = server.add_vm()
    server.commits["c1"] = vm_id
    server.tags["t"] = {
        "tag_id": "t1",
        "tag_name": "t",
        "commit_id": "c1",
        "description": None,
        "created_at": "2026-06-19T10:00:00Z",
        "updated_at": "2026-06-19T10:00:00Z",
    }

    def answer(method: str, path: str, body: object = None):
        response = server.handle(httpx.Request(method, f"https://api.vers.sh/api/v1{path}", json=body))
        assert response.is_success, path
        return response.json()

    page = strict(sdk.ListCommitsResponse, answer("GET", "/commits"))
    assert [c.commit_id for c in page.commits] == ["c1"] and page.total == 1
    assert strict(sdk.ListTagsResponse, answer("GET", "/commit_tags")).tags[0].commit_id == "c1"
    assert strict(sdk.CommitInfo, answer("PATCH", "/commits/c1", {"is_public": True})).is_public
    [parent] = strict(list[sdk.VmCommitEntity], answer("GET", "/vm/commits/c1/parents"))
    assert parent.id == "c1"
