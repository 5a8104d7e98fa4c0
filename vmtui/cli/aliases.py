"""`vmtui alias [NAME]`: vers-cli's local names for VMs (`~/.vers/aliases.json`), read only.

Every command that takes a VM accepts an alias; vers-cli's `vers alias` is where they are made.
"""

from __future__ import annotations

import argparse
import json
import sys

from vmtui.cli.common import print_ids, table
from vmtui.core.text import one_line
from vmtui.services.vers_aliases import ALIASES_FILE, read_alias_file


def register(subparsers: argparse._SubParsersAction) -> None:
    alias = subparsers.add_parser("alias", help=f"vers-cli's VM aliases ({ALIASES_FILE}), read only")
    alias.add_argument("name", nargs="?", metavar="NAME", help="print only this alias's VM id")
    alias.add_argument("--json", action="store_true", help="print JSON")
    alias.add_argument("-q", "--quiet", action="store_true", help="print only the aliases")
    alias.set_defaults(func=_alias)


def _alias(args: argparse.Namespace) -> int:
    aliases = read_alias_file()
    if args.name is not None:
        if args.name not in aliases:
            print(f"vmtui alias: no alias {one_line(args.name, 80)!r} in {ALIASES_FILE}", file=sys.stderr)
            return 3
        aliases = {args.name: aliases[args.name]}
    if args.json:
        print(json.dumps(aliases))
    elif args.quiet:
        print_ids(aliases)
    elif args.name is not None:
        print_ids(aliases.values())
    else:
        table(("ALIAS", "VM ID"), aliases.items())
    return 0
