"""Batch normalisation in data-parallel training: a from-scratch SyncBatchNorm and the helpers that

launch torch.distributed workers (chapter 9).
"""

__all__ = []
