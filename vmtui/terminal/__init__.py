"""Textual-free terminal core: emulator adapters (avt, pyte), output pipeline, scrollback view, keys, mouse,
and the transports that carry a session's bytes (a local PTY, an SSH shell)."""
