"""The only code that touches frameworks and I/O libraries."""
