"""Other frameworks' BN, run from the book (chapter 11).

MXNet 1.9.1 needs numpy < 1.24, so MXNet Gluon (with d2l 1.0.3) has its own
virtual environment ``.venv-mxnet``; PaddlePaddle, Keras 3 (JAX backend),
JAX + Flax and MindSpore share ``.venv-frameworks``. ``make frameworks``
creates both (pinned in ``requirements-mxnet.txt`` and
``requirements-frameworks.txt``); the book's own environment is called
``"book"`` here (this interpreter).

``run_in_env(env, script, arrays)`` runs a script of ``framework_scripts/``
(or any file) in that environment's interpreter, in a subprocess: the arrays
go in and come back through ``.npz`` files. ``show_script`` shows the reader
the code that ran. ``have_env`` says whether an environment is there (and,
in Chinese, what to do when it is not).

``BN_CONVENTIONS`` and ``convert_bn`` map one BN layer's hyperparameters and
state between a framework's conventions and PyTorch's (or any two).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import building_book, quick_mode
from .utils import book_seed

__all__ = ["BN_CONVENTIONS", "ENVS", "EnvMissing", "EnvRun", "FRAMEWORK_ENV", "bn_probe_inputs",
           "convert_bn", "env_python", "have_env", "measure_bn_conventions", "run_in_env", "script_path",
           "show_script"]

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "framework_scripts"

# environment -> (folder in the repository root, what it holds, its requirements file)
ENVS = {
    "book": (None, "the book's own environment (PyTorch)", "requirements.txt"),
    "mxnet": (".venv-mxnet", "MXNet 1.9.1 + d2l 1.0.3", "requirements-mxnet.txt"),
    "frameworks": (".venv-frameworks", "PaddlePaddle, Keras 3 (JAX), JAX + Flax, MindSpore",
                   "requirements-frameworks.txt"),
}
FRAMEWORK_ENV = {"pytorch": "book", "mxnet": "mxnet", "paddle": "frameworks", "keras": "frameworks",
                 "flax": "frameworks", "mindspore": "frameworks"}


class EnvMissing(RuntimeError):
    """A framework environment of chapter 11 is not installed."""


def _check_env_name(env):
    if env not in ENVS:
        raise ValueError(f"unknown environment {env!r}; use one of {sorted(ENVS)}")


def env_python(env):
    """Path of the interpreter of ``env`` ("book", "mxnet" or "frameworks"); it may not exist.

    The environments live in the repository root; ``BN_BOOK_VENVS`` names another folder that holds them.
    """
    _check_env_name(env)
    folder = ENVS[env][0]
    if folder is None:
        return Path(sys.executable)
    return Path(os.environ.get("BN_BOOK_VENVS") or ROOT) / folder / "bin" / "python"


def _installed(env):
    python = env_python(env)
    return python.is_file() and os.access(python, os.X_OK)


def have_env(env, quiet=False):
    """True when ``env`` is installed. Otherwise print (in Chinese) what is missing and how to get it.

    While the full book is built (``make book``), a missing environment is an error: the chapter's
    claims would silently be left out.
    """
    if _installed(env):
        return True
    folder, holds, requirements = ENVS[env]
    message = (f"【跳过】这一节需要虚拟环境 {folder}（{holds}），本机没有。"
               f"在仓库根目录运行 `make frameworks` 创建它（依赖固定在 {requirements}）。"
               "本节的代码和结论在这里不运行，本章其余部分照常执行。")
    if env == "mxnet":
        message += "Colab 的 Python 比 MXNet 1.9.1 所需的 numpy < 1.24 能支持的版本新，Colab 里无法安装。"
    if building_book() and not quick_mode():
        raise EnvMissing(f"{folder} ({holds}) is missing: `make book` creates it with `make frameworks`")
    if not quiet:
        print(message)
    return False


def script_path(name):
    """Path of a script in ``framework_scripts/`` (``"bn_keras"`` or ``"bn_keras.py"``), or a file path."""
    path = Path(name)
    if not path.suffix:
        path = path.with_suffix(".py")
    if not path.is_absolute() and not path.exists():
        path = SCRIPTS / path
    if not path.is_file():
        available = sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.stem.startswith("_"))
        raise FileNotFoundError(f"no script {name!r}; the book's scripts are {available}")
    return path


def show_script(name, first_line=None):
    """Show the code of a script (from ``first_line``, a string it starts with) as a Python block."""
    from .claims import show_markdown

    text = script_path(name).read_text(encoding="utf-8")
    if first_line is not None:
        start = text.find(first_line)
        if start < 0:
            raise ValueError(f"{first_line!r} is not in {name}")
        text = text[start:]
    show_markdown(f"```python\n{text.rstrip()}\n```")


@dataclass
class EnvRun:
    """What a script returned: its ``outputs`` arrays, its ``info`` dict, what it printed, seconds."""

    outputs: dict
    info: dict
    stdout: str
    seconds: float
    env: str = ""
    script: str = ""
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.outputs[key]


def run_in_env(env, script, arrays=None, env_vars=None, timeout=900):
    """Run ``script`` in the interpreter of ``env`` with ``arrays`` as its ``inputs``; return an ``EnvRun``.

    The script sees the globals ``inputs`` (a dict of numpy arrays), ``outputs`` (fill it with arrays)
    and ``info`` (fill it with JSON values). ``env_vars`` are added to the subprocess's environment;
    it runs with one thread (``OMP_NUM_THREADS=1`` unless set) and Keras on the JAX backend.
    """
    _check_env_name(env)
    if not _installed(env):
        folder, holds, _ = ENVS[env]
        raise EnvMissing(f"{folder} ({holds}) is not installed: run `make frameworks` in {ROOT}")
    path = script_path(script)
    arrays = {} if arrays is None else dict(arrays)
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" or env == "book"}
    child_env.setdefault("OMP_NUM_THREADS", "1")
    child_env.setdefault("KERAS_BACKEND", "jax")
    child_env.setdefault("JAX_PLATFORMS", "cpu")
    child_env.setdefault("GLOG_minloglevel", "2")  # MindSpore's and Paddle's C++ logging
    child_env.update({k: str(v) for k, v in (env_vars or {}).items()})
    with tempfile.TemporaryDirectory(prefix="bn-book-") as tmp:
        np.savez(Path(tmp) / "inputs.npz", **{k: np.asarray(v) for k, v in arrays.items()})
        command = [str(env_python(env)), str(SCRIPTS / "_runner.py"), str(path),
                   str(Path(tmp) / "inputs.npz"), tmp]
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=child_env, timeout=timeout,
                                  cwd=tmp)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{path.name} in {env} did not finish within {timeout} s") from None
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{path.name} failed in the {env!r} environment "
                               f"(exit {done.returncode}):\n{tail}")
        with np.load(Path(tmp) / "outputs.npz") as data:
            outputs = {key: data[key] for key in data.files}
        info = json.loads((Path(tmp) / "info.json").read_text(encoding="utf-8"))
    return EnvRun(outputs, info, done.stdout, seconds, env, path.name)


# One BN layer's conventions. "momentum_weights": which value `momentum` multiplies in
# running = momentum * ... ; "new": PyTorch, running = (1 - m) * running + m * batch;
# "old": running = m * running + (1 - m) * batch. "unbiased": the batch variance that goes
# into the running variance divides by n - 1. Names: gamma, beta, running mean, running var.
BN_CONVENTIONS = {
    "pytorch": dict(momentum_weights="new", momentum=0.1, eps=1e-5, unbiased=True, channel_axis=1,
                    names=("weight", "bias", "running_mean", "running_var")),
    "mxnet": dict(momentum_weights="old", momentum=0.9, eps=1e-5, unbiased=False, channel_axis=1,
                  names=("gamma", "beta", "running_mean", "running_var")),
    "paddle": dict(momentum_weights="old", momentum=0.9, eps=1e-5, unbiased=False, channel_axis=1,
                   names=("weight", "bias", "_mean", "_variance")),
    "keras": dict(momentum_weights="old", momentum=0.99, eps=1e-3, unbiased=False, channel_axis=-1,
                  names=("gamma", "beta", "moving_mean", "moving_variance")),
    "flax": dict(momentum_weights="old", momentum=0.99, eps=1e-5, unbiased=False, channel_axis=-1,
                 names=("params/scale", "params/bias", "batch_stats/mean", "batch_stats/var")),
    "mindspore": dict(momentum_weights="old", momentum=0.9, eps=1e-5, unbiased=True, channel_axis=1,
                      names=("gamma", "beta", "moving_mean", "moving_variance")),
}


def convert_bn(layer, src, dst="pytorch"):
    """Map one BN layer from framework ``src``'s conventions to ``dst``'s.

    ``layer``: ``momentum`` and ``eps`` as ``src`` means them (missing:
    ``src``'s defaults) and the four arrays under ``src``'s names. Returns
    ``dst``'s momentum for the same running averages, the same ``eps`` (a
    number of the trained layer: never ``dst``'s default) and the arrays
    under ``dst``'s names. Biased or unbiased running variance is a rule of
    the framework's update, not of the stored numbers: the ported layer
    predicts the same and goes on training by ``dst``'s rule."""
    for name in (src, dst):
        if name not in BN_CONVENTIONS:
            raise ValueError(f"unknown framework {name!r}; use one of "
                             f"{sorted(BN_CONVENTIONS)}")
    s, d = BN_CONVENTIONS[src], BN_CONVENTIONS[dst]
    unknown = set(layer) - set(s["names"]) - {"momentum", "eps"}
    if unknown:
        raise KeyError(f"{sorted(unknown)} are not {src}'s BN names; "
                       f"expected {list(s['names'])}, 'momentum', 'eps'")
    missing = [name for name in s["names"] if name not in layer]
    if missing:
        raise KeyError(f"{missing} missing from the {src} layer")
    momentum = float(layer.get("momentum", s["momentum"]))
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    # the weight of the new batch statistic, then dst's way of saying it
    new = momentum if s["momentum_weights"] == "new" else 1 - momentum
    momentum = new if d["momentum_weights"] == "new" else 1 - new
    out = {"momentum": round(momentum, 12),  # not 0.09999999999999998
           "eps": float(layer.get("eps", s["eps"]))}
    for a, b in zip(s["names"], d["names"], strict=True):
        out[b] = np.asarray(layer[a])
    return out


def bn_probe_inputs(seed=0, steps=3, batch=8, channels=3, size=4):
    """Inputs for comparing BN layers (float32, NCHW): training batches
    ``x`` (steps, N, C, H, W), a prediction batch ``x_eval``, ``gamma``,
    ``beta``. Channel c has mean c - 1 and standard deviation 10**-c, so the
    last channel's variance (1e-4 for 3 channels) is below Keras's eps.
    The draw follows the book's seed base (``book_seed``)."""
    rng = np.random.default_rng(book_seed(seed))
    scale = (10.0 ** -np.arange(channels))[:, None, None]
    shift = (np.arange(channels) - 1.0)[:, None, None]
    x = rng.standard_normal((steps + 1, batch, channels, size, size))
    x = (x * scale + shift).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, channels).astype(np.float32)
    beta = rng.standard_normal(channels).astype(np.float32)
    return dict(x=x[:-1], x_eval=x[-1], gamma=gamma, beta=beta)


def _bn(x, mean, var, eps, gamma, beta):
    # per-channel normalisation of NCHW x in float64
    c = (1, -1, 1, 1)
    x_hat = (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + eps)
    return gamma.reshape(c) * x_hat + beta.reshape(c)


def measure_bn_conventions(run, inputs):
    """Read a BN layer's conventions off a run of a ``bn_*`` script.

    From the running mean after the first step (it starts at 0): the
    weight of the new batch value; from the running variance (it starts
    at 1): whether the batch variance divides by n or n - 1; from the
    training output on the low-variance channel: eps. Then replays all
    steps with what it found and checks outputs and statistics."""
    x = inputs["x"].astype(np.float64)
    g, b = inputs["gamma"], inputs["beta"]
    out = {k: np.asarray(v, np.float64) for k, v in run.outputs.items()}
    axes = (0, 2, 3)
    n = x[0].size // x.shape[2]  # values per channel in a batch
    m1, v1 = x[0].mean(axes), x[0].var(axes)
    w = float(np.median(out["running_mean"][0] / m1))  # starts at 0
    c0 = int(np.argmax(v1))  # the channel where float32 rounding matters least
    v_est = (out["running_var"][0][c0] - (1 - w)) / w  # starts at 1
    unbiased = bool(abs(v_est - v1[c0] * n / (n - 1)) < abs(v_est - v1[c0]))
    # eps from y = g (x - m) / sqrt(v + eps) + b on the last channel
    c = x.shape[2] - 1
    ratio = (x[0][:, c] - m1[c]) * g[c] / (out["y_train"][0][:, c] - b[c])
    eps = float(np.median(ratio**2) - v1[c])
    # replay every step with what was found
    mean, var = np.zeros(x.shape[2]), np.ones(x.shape[2])
    y_err = stat_err = 0.0
    for k, xk in enumerate(x):
        bm, bv = xk.mean(axes), xk.var(axes)
        y = _bn(xk, bm, bv, eps, g, b)
        y_err = max(y_err, np.abs(y - out["y_train"][k]).max())
        bv_run = bv * n / (n - 1) if unbiased else bv
        mean = (1 - w) * mean + w * bm
        var = (1 - w) * var + w * bv_run
        stat_err = max(stat_err,
                       np.abs(mean - out["running_mean"][k]).max(),
                       np.abs(var - out["running_var"][k]).max())
    x_eval = inputs["x_eval"].astype(np.float64)
    y_eval = _bn(x_eval, mean, var, eps, g, b)
    eval_err = np.abs(y_eval - out["y_eval"]).max()
    # a new layer called without a mode: batch or initial (0, 1) statistics?
    if "y_default" in out:
        em, ev = x_eval.mean(axes), x_eval.var(axes)
        as_train = _bn(x_eval, em, ev, eps, g, b)
        as_eval = _bn(x_eval, 0 * em, 0 * ev + 1, eps, g, b)
        d_train = np.abs(out["y_default"] - as_train).max()
        d_eval = np.abs(out["y_default"] - as_eval).max()
        default = "training" if d_train < d_eval else "prediction"
    else:
        default = "error: " + run.info.get("default_error", "?")
    m = run.info["momentum"]
    weights = ("new" if abs(w - m) < 1e-4
               else "old" if abs(w - (1 - m)) < 1e-4 else "?")
    return dict(framework=run.info["framework"],
                version=run.info["version"],
                momentum=m, momentum_weights=weights,
                weight_of_new=w, eps_default=run.info["eps"],
                eps_measured=eps, unbiased=unbiased,
                channel_axis=run.info["channel_axis"],
                default_mode=default,
                mode_switch=run.info["mode_switch"],
                names=run.info["names"], y_train_err=float(y_err),
                stats_err=float(stat_err), y_eval_err=float(eval_err))
