"""Seeing inside training: per-layer activation, gradient and update statistics, and recalibrating BN's

running statistics (chapter 10).
"""

__all__ = []
