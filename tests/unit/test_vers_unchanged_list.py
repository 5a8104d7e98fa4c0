"""Unchanged costs nothing: the Vers list path with `ETag`/`If-None-Match` and with identical bytes."""

import httpx

from vmtui.core.models import VmState
from vmtui.providers.vers import VersProvider

LIST = "/api/v1/vm"  # vers-sdk 1.20.0 lists here first


class ListServer:
    """Answers the VM list; with `etag`, sends it and answers 304 to a matching `If-None-Match`."""

    def __init__(self, etag: str | None):
        self.etag = etag
        self.state = "running"
        self.seen_if_none_match: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == LIST
        sent = request.headers.get("if-none-match")
        self.seen_if_none_match.append(sent)
        headers = {"etag": self.etag} if self.etag else {}
        if self.etag and sent == self.etag:
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, json=[{"vm_id": "vm-1", "state": self.state}], headers=headers)

    def change(self) -> None:
        self.state = "paused"
        if self.etag:
            self.etag = '"v2"'


def provider(server: ListServer) -> VersProvider:
    return VersProvider("p", "https://api.vers.sh", "key", transport=httpx.MockTransport(server))


async def test_304_returns_the_previous_list_object_and_a_change_is_seen():
    server = ListServer('"v1"')
    vers = provider(server)
    first = await vers.list_vms()
    second = await vers.list_vms()
    assert server.seen_if_none_match == [None, '"v1"']
    assert second is first  # not re-parsed: callers skip their own work by identity
    server.change()
    third = await vers.list_vms()
    assert third is not first and third[0].state is VmState.PAUSED
    await vers.aclose()


async def test_identical_bytes_without_etag_skip_the_parse():
    server = ListServer(None)
    vers = provider(server)
    first = await vers.list_vms()
    assert await vers.list_vms() is first
    assert server.seen_if_none_match == [None, None]  # never invents a validator
    server.change()
    assert (await vers.list_vms())[0].state is VmState.PAUSED
    await vers.aclose()


async def test_identical_commit_page_bytes_give_the_same_commits_back():
    page = {"commits": [{"commit_id": "c-1", "name": "first"}], "total": 1}
    requests: list[str] = []

    def commits(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return httpx.Response(200, json=page)

    vers = VersProvider("p", "https://api.vers.sh", "key", transport=httpx.MockTransport(commits))
    first, total = await vers.commits_page(0, 100)
    again, _ = await vers.commits_page(0, 100)
    assert again is first and total == 1 and len(requests) == 2  # asked again, not parsed again
    page["commits"][0]["name"] = "renamed"
    changed, _ = await vers.commits_page(0, 100)
    assert changed is not first and changed[0].name == "renamed"
    other, _ = await vers.commits_page(100, 100)  # another page is parsed on its own
    assert other is not first
    await vers.aclose()


async def test_a_commit_page_with_an_etag_is_asked_conditionally_and_a_304_is_not_parsed(monkeypatch):
    page = {"commits": [{"commit_id": "c-1", "name": "first"}], "total": 1}
    etag = ['"p1"']
    seen: list[str | None] = []

    def commits(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("if-none-match")
        seen.append(sent)
        if sent == etag[0]:
            return httpx.Response(304, headers={"etag": etag[0]})
        return httpx.Response(200, json=page, headers={"etag": etag[0]})

    vers = VersProvider("p", "https://api.vers.sh", "key", transport=httpx.MockTransport(commits))
    first, _ = await vers.commits_page(0, 100)
    parses: list[int] = []
    parse = vers._parse_commits
    monkeypatch.setattr(vers, "_parse_commits", lambda *args: parses.append(1) or parse(*args))
    again, total = await vers.commits_page(0, 100)
    assert seen == [None, '"p1"'] and again is first and total == 1 and parses == []
    await vers.commits_page(100, 100)  # another page has no validator yet
    assert seen[-1] is None and parses == [1]
    page["commits"][0]["name"], etag[0] = "renamed", '"p2"'
    changed, _ = await vers.commits_page(0, 100)
    assert seen[-1] == '"p1"' and changed is not first and changed[0].name == "renamed"
    await vers.aclose()
