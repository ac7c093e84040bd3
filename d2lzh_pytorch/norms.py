"""Normalisation layers that differ only in which axes share statistics: batch, layer, instance and

group normalisation (chapter 8).
"""

__all__ = []
