"""Models the chapters share, defined in the chapter that teaches them (``# @save``)."""

__all__ = []
