"""The local engine's HTTP layer: guards in front of the routes, the routers, their schemas."""
