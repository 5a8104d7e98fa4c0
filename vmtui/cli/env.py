"""`vmtui env list|set|delete`: the account's environment variables, written into every new VM.

Values are masked unless `--reveal`. `env set KEY` (no `=VALUE`) reads the value from stdin, hidden
when stdin is a terminal, so a secret never lands in the shell's history.
"""

from __future__ import annotations

import argparse
import json

from vmtui.cli.common import add_output, extra, for_each, key_value, print_ids, read_secret, runner, table
from vmtui.core.errors import BadRequest
from vmtui.providers.base import EnvVarsApi, Provider

MASK = "********"


def register(subparsers: argparse._SubParsersAction) -> None:
    env = subparsers.add_parser("env", help="list, set or delete the environment every new VM gets")
    verbs = env.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = add_output(verbs.add_parser("list", help="every variable (values masked)"))
    listing.add_argument("--reveal", action="store_true", help="show the values")
    listing.set_defaults(func=runner(_list))
    set_ = add_output(verbs.add_parser("set", help="set variables: KEY=VALUE, or KEY to read it from stdin"))
    set_.add_argument("items", nargs="+", metavar="KEY=VALUE|KEY")
    set_.set_defaults(func=runner(_set))
    delete = add_output(verbs.add_parser("delete", help="delete variables"))
    delete.add_argument("keys", nargs="+", metavar="KEY")
    delete.set_defaults(func=runner(_delete))


def _env(provider: Provider) -> EnvVarsApi:
    return extra(provider, EnvVarsApi, "has_environment", "environment variables")


async def _list(provider: Provider, args: argparse.Namespace) -> None:
    values = await _env(provider).list_env_vars()
    shown = {key: value.get_secret_value() if args.reveal else MASK for key, value in sorted(values.items())}
    if args.json:
        print(json.dumps(shown))
    elif args.quiet:
        print_ids(shown)
    else:
        table(("KEY", "VALUE"), shown.items())


async def _set(provider: Provider, args: argparse.Namespace) -> None:
    env = _env(provider)
    from_stdin = [item for item in args.items if "=" not in item]
    if len(from_stdin) > 1:
        raise BadRequest(
            f"only one value can come from stdin, not {len(from_stdin)}: {', '.join(from_stdin)}"
        )
    pairs = [
        key_value(item, "env set") if "=" in item else (item, read_secret(f"value of {item}"))
        for item in args.items
    ]
    values = dict(pairs)
    await for_each(list(values), lambda key: env.set_env_var(key, values[key]), "set", "variable", args)


async def _delete(provider: Provider, args: argparse.Namespace) -> None:
    await for_each(args.keys, _env(provider).delete_env_var, "deleted", "variable", args)
