"""The catalogue for readers and librarians (server-rendered pages)."""

from .catalogue import bp

__all__ = ["bp"]
