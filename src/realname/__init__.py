"""realname: register phone numbers to real, verified people, keeping their data private."""

__version__ = "0.1.0"
