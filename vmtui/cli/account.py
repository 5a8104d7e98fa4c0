"""`vmtui whoami`: who the profile's key belongs to, the server's version and its health, each where
the API has it (null otherwise; `vmtui.services.account`). The key itself is never printed."""

from __future__ import annotations

import argparse
import json

from vmtui.cli.common import add_output, runner, unsupported
from vmtui.providers.base import AccountApi, Provider
from vmtui.services.account import account_document, account_lines, account_user


def register(subparsers: argparse._SubParsersAction) -> None:
    whoami = add_output(
        subparsers.add_parser("whoami", help="the key's user and org, server version, health")
    )
    whoami.set_defaults(func=runner(_whoami))


async def _whoami(provider: Provider, args: argparse.Namespace) -> None:
    if not isinstance(provider, AccountApi):
        raise unsupported(provider, "whoami")
    document = await account_document(provider.name, provider)
    if args.json:
        print(json.dumps(document))
    elif args.quiet:
        print(account_user(document))
    else:
        for what, value in account_lines(document):
            print(f"{what + ':':16}{value}")
