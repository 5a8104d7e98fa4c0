"""Modal and full screens of the TUI."""
