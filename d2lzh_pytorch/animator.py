"""A live training plot for notebooks, redrawn as training goes on (d2l's ``Animator``)."""

__all__ = []
