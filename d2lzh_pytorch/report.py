"""Presenting results: tables as pandas DataFrames, ``mean ± std`` formatting."""

__all__ = []
