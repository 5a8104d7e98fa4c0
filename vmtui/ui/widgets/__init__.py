"""Widgets of the main screen (the terminal pane lives in terminal_pane.py, owned separately)."""
