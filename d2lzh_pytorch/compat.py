"""Names kept for the original notes and for d2l: thin aliases of the book's own helpers."""

__all__ = []
