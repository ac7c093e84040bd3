"""Batch normalisation in data-parallel training (chapter 9), in three modules:

* ``sync_bn``: ``combine_moments``, ``SyncBatchNorm``, ``GhostBatchNorm``, ``convert_sync_batchnorm``;
* ``launcher``: ``launch`` runs ``fn(ctx, *args)`` in torch.distributed worker processes;
* ``data_parallel``: chapter 9's experiment (``data_parallel_worker``, ``train_one_config``).

This module gathers their names, so that ``d2l.distributed.X`` keeps working.
"""

from .data_parallel import *  # noqa: F403
from .data_parallel import __all__ as _data_parallel_all
from .launcher import *  # noqa: F403
from .launcher import __all__ as _launcher_all
from .sync_bn import *  # noqa: F403
from .sync_bn import __all__ as _sync_bn_all

__all__ = sorted(_sync_bn_all + _launcher_all + _data_parallel_all)
