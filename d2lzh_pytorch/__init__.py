"""Helpers shared by the chapters of the batch-normalisation book (``import d2lzh_pytorch as d2l``).

Each module lists its public names in ``__all__``; all of them are available
from the package itself. The names of the original notes (``train_ch5``,
``FlattenLayer``, ...) and of d2l (``train_ch6``, ...) keep working.
"""

from importlib import metadata as _metadata

from . import (
    animator,
    audit,
    checks,
    claims,
    compat,
    config,
    data,
    data_parallel,
    device,
    diagnostics,
    distributed,
    experiments,
    frameworks,
    launcher,
    layers,
    models,
    norms,
    plotting,
    progress,
    report,
    stats,
    sync_bn,
    timing,
    training,
    utils,
)
from .animator import *  # noqa: F403
from .audit import *  # noqa: F403
from .checks import *  # noqa: F403
from .claims import *  # noqa: F403
from .compat import *  # noqa: F403
from .config import *  # noqa: F403
from .data import *  # noqa: F403
from .device import *  # noqa: F403
from .diagnostics import *  # noqa: F403
from .distributed import *  # noqa: F403
from .experiments import *  # noqa: F403
from .frameworks import *  # noqa: F403
from .layers import *  # noqa: F403
from .models import *  # noqa: F403
from .norms import *  # noqa: F403
from .plotting import *  # noqa: F403
from .progress import *  # noqa: F403
from .report import *  # noqa: F403
from .stats import *  # noqa: F403
from .timing import *  # noqa: F403
from .training import *  # noqa: F403
from .utils import *  # noqa: F403

_MODULES = (animator, audit, checks, claims, compat, config, data, data_parallel, device, diagnostics,
            distributed, experiments, frameworks, launcher, layers, models, norms, plotting, progress, report,
            stats, sync_bn, timing, training, utils)
__all__ = sorted({name for module in _MODULES for name in module.__all__})

try:
    __version__ = _metadata.version("d2lzh_pytorch")
except _metadata.PackageNotFoundError:  # used from a source tree that is not installed
    __version__ = "0+unknown"
