"""Textual-free terminal core: emulator adapters (avt, pyte), output pipeline, the parser process that
parses a pane's output on another core (avt), scrollback view, keys, mouse, and the transports that carry
a session's bytes (a local PTY, an SSH shell)."""
