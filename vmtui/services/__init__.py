"""Textual-free services between the providers and the UI: polling, actions, registry."""
