"""Statistics over seeds, computed in one place: mean, sample standard deviation, paired t-intervals."""

__all__ = []
