"""Use cases and the ports they own."""
