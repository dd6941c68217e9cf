"""The store PC's reader bridge: its card format and a simulator serving test cards (docs/reader-bridge.md)."""
