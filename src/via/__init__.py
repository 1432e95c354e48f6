"""VIA: an open-source marketplace built around real-time session-based recommendation."""

__version__ = "0.1.0"
