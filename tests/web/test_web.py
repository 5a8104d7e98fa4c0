"""`vmtui web`: a real server process on 127.0.0.1; nothing without the token; with it, the page
loads and its WebSocket drives a real `vmtui tui` child that draws the UI."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

TOKEN_LINE = "vmtui web: open "


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def web_server(tmp_path: Path):
    """`vmtui web` with a config whose only profile is a Vers endpoint nobody answers (no engine)."""
    config = tmp_path / "config" / "vmtui"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        'active = "nowhere"\n[profiles.nowhere]\nkind = "vers"\nurl = "http://127.0.0.1:9"\napi_key = "k"\n'
    )
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vmtui", "web", "--port", str(port), "--profile", "nowhere",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert line.startswith(TOKEN_LINE), line
        url = line.removeprefix(TOKEN_LINE).strip()
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "vmtui web never listened"
                await asyncio.sleep(0.2)
        yield port, url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


def listening_addresses(port: int) -> set[str]:
    found = set()
    for line in (
        Path("/proc/net/tcp").read_text().splitlines()[1:]
        + Path("/proc/net/tcp6").read_text().splitlines()[1:]
    ):
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.rsplit(":", 1)
        if state == "0A" and int(hex_port, 16) == port:
            found.add(address)
    return found


async def test_nothing_is_served_without_the_token(web_server):
    port, url = web_server
    assert url.startswith(f"http://127.0.0.1:{port}/?token=")
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/", "/?token=wrong", "/ws", "/static/js/textual.js", "/download/x"):
            async with anonymous.get(f"http://127.0.0.1:{port}{path}") as answer:
                assert answer.status == 403, path


async def test_with_the_token_the_page_loads_and_its_websocket_runs_the_tui(web_server):
    port, url = web_server
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # IP hosts too
        async with browser.get(url) as page:
            assert page.status == 200
            html = await page.text()
            cookie = page.cookies["vmtui_web_token"]
        assert f"ws://127.0.0.1:{port}/ws" in html
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with browser.get(f"http://127.0.0.1:{port}/static/js/textual.js") as asset:
            assert asset.status == 200  # the cookie stands in for the token
        drawn = b""
        async with browser.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
            deadline = time.monotonic() + 120
            while b"nowhere" not in drawn:  # the profile's name, drawn by the TUI
                assert time.monotonic() < deadline, drawn[-2000:]
                message = await ws.receive(timeout=120)
                if message.type == aiohttp.WSMsgType.BINARY:
                    drawn += message.data
                elif message.type == aiohttp.WSMsgType.TEXT:
                    drawn += message.data.encode()
                else:
                    raise AssertionError(f"the WebSocket ended: {message}")


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


async def test_a_headless_chromium_loads_the_page_and_gets_the_tui_over_its_websocket(web_server, tmp_path):
    """Debian's chromium, driven by the DevTools protocol, loads the page with the token; its script
    opens the WebSocket (with the cookie) and receives the TUI's drawing. The terminal is painted on a
    canvas, so the check reads the WebSocket frames the browser received, not the page's text."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    _port, url = web_server
    debug_port = free_port()
    browser = await asyncio.create_subprocess_exec(
        chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}",
        f"--remote-debugging-port={debug_port}", "--window-size=1200,800", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as devtools:
            pages = await _devtools_pages(devtools, debug_port)
            async with devtools.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as page:
                await page.send_json({"id": 1, "method": "Network.enable"})
                await page.send_json({"id": 2, "method": "Page.navigate", "params": {"url": url}})
                received, opened, deadline = b"", False, time.monotonic() + 120
                while b"nowhere" not in received:  # the profile's name, drawn by the TUI
                    assert time.monotonic() < deadline, f"opened={opened}; received: {received[-500:]!r}"
                    event = await page.receive_json(timeout=120)
                    method = event.get("method")
                    if method == "Network.webSocketCreated":
                        opened = opened or "/ws" in event["params"]["url"]
                    elif method == "Network.webSocketFrameReceived":
                        frame = event["params"]["response"]
                        data = frame["payloadData"]
                        received += base64.b64decode(data) if frame["opcode"] == 2 else data.encode()
        assert opened
    finally:
        browser.terminate()
        await asyncio.wait_for(browser.wait(), 30)


async def _devtools_pages(devtools: aiohttp.ClientSession, port: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        try:
            async with devtools.get(f"http://127.0.0.1:{port}/json") as listing:
                pages = [p for p in await listing.json() if p.get("type") == "page"]
            if pages:
                return pages
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, "chromium's DevTools never listed a page"
        await asyncio.sleep(0.5)
