"""Keys, blind index, envelope encryption and signatures (the `cryptography` package)."""
