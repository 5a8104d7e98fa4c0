"""`vmtui web`: the same TUI in a browser, through textual-serve, on 127.0.0.1 only.

Each browser connection runs its own `vmtui tui` (with Textual's web driver) as a child process.
Nothing is served without the session's random token: the URL printed at start carries it once
(`/?token=…`); that answer sets it as an HttpOnly, SameSite=Strict cookie, which the page's
assets and its WebSocket then send. Anything else gets 403.
"""

from __future__ import annotations

import argparse
import hmac
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable

LOOPBACK = "127.0.0.1"
COOKIE = "vmtui_web_token"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web",
        help="the TUI in a browser (loopback only, token-protected)",
        description="Serve the TUI to a browser on 127.0.0.1; open the printed URL (it holds the token).",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="profile(s) to show, as for `vmtui tui`",
    )
    parser.add_argument("--read-only", action="store_true", help="disable every action that changes a VM")
    parser.set_defaults(func=run)


def tui_command(args: argparse.Namespace) -> str:
    words = [sys.executable, "-m", "vmtui", "tui"]
    for profile in args.profile:
        words += ["--profile", profile]
    if args.read_only:
        words.append("--read-only")
    return shlex.join(words)


def make_server(command: str, port: int, token: str):  # -> TokenServer (textual-serve is imported lazily)
    from aiohttp import web
    from textual_serve.server import Server

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    class TokenServer(Server):
        """textual-serve's server with every route behind the token."""

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self._require_token)
            return app

        @web.middleware
        async def _require_token(self, request: web.Request, handler: Handler) -> web.StreamResponse:
            given = request.query.get("token")
            if given is None:
                given = request.cookies.get(COOKIE, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(
                    status=403, text="vmtui web: open the URL printed at start (it holds the token)\n"
                )
            response = await handler(request)
            if "token" in request.query and not response.prepared:
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response

    return TokenServer(command, host=LOOPBACK, port=port, title="vmtui")


def run(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    server = make_server(tui_command(args), args.port, token)
    print(f"vmtui web: open http://{LOOPBACK}:{args.port}/?token={token}", flush=True)
    server.serve()
    return 0
