"""Imports every method module so that each registers itself (see ``base.register``)."""

# One line per method module; keep sorted.
