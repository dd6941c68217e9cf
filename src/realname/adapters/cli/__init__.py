"""The ``realname`` command line."""
