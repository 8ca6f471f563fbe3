"""hermes: a self-hosted, multi-profile agent gateway."""

__version__ = "0.1.0"
