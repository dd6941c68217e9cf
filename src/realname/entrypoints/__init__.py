"""Process entry points: the ASGI app and the CLI."""
