"""Platform clients: wire models in, core models out. Never import textual."""
