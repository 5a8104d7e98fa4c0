"""Textual UI: the app, its screens and widgets. Talks to services and providers only."""
