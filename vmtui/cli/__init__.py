"""Sub-commands of the `vmtui` command line, one module each.

Every module listed in COMMANDS exposes `register(subparsers)`, which adds its parser and sets
`func=<callable(args) -> int>` as the default. The modules are imported only when the CLI runs.
"""

COMMANDS = [
    "tui",
    "serve",
    "config",
    "ssh",
    "web",
    "exec",
    "tunnel",
    "commits",
    "vms",
    "vm_edit",
    "env",
    "images",
    "aliases",
    "account",
]
