"""Pure rules and values. Standard library (and numpy for vectors) only: no clock, randomness or I/O."""
