"""The package version, in a module of its own so nothing imports upward from the root."""

__version__ = "0.1.0"
