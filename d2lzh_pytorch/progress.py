"""Progress reporting for the training loops (tqdm bars in a terminal or a notebook)."""

__all__ = []
