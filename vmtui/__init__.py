"""vmtui: a keyboard-driven terminal UI for branchable VMs."""

__version__ = "0.1.0"
