"""The local engine: sandboxed VMs behind a Vers-compatible API served on loopback."""
