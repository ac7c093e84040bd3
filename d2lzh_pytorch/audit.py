"""A one-call audit of a model's normalisation layers (chapter 10): ``bn_audit``.

``bn_audit(model, optimizer=None, data=None)`` lists every BN, LayerNorm,
GroupNorm and InstanceNorm layer with its mode, momentum, eps and
``track_running_stats``, and reports the usual BN mistakes, each with what to
do. It never changes the model: modes, parameters and buffers stay as they were.
"""

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from . import _checks
from .compat import FlattenLayer
from .layers import BatchNorm
from .norms import Norm
from .report import Table

__all__ = ["AuditFinding", "BNAudit", "bn_audit"]

_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm, BatchNorm)  # nn.BatchNorm*d, nn.SyncBatchNorm, d2l's three
_NORMS = _BATCH_NORMS + (nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, Norm)
_LOOK_THROUGH = (nn.Identity, nn.Flatten, nn.Unflatten, FlattenLayer)  # reshape only: a bias stays a bias
_WITH_BIAS = (nn.Linear, nn.modules.conv._ConvNd)
_MEAN_SHIFT, _VAR_RATIO, _EPS_RANGE = 0.5, 3.0, (1e-7, 1e-2)


@dataclass(frozen=True)
class AuditFinding:
    """One finding: the layer's name, a short kind, what is wrong, what to do, and its level
    ("fault": results are wrong or fragile; "note": worth knowing, often intended)."""
    layer: str
    kind: str
    message: str
    advice: str
    level: str = "fault"


class BNAudit:
    """What ``bn_audit`` found: ``layers`` (a ``d2l.Table``, one row per layer) and ``findings``."""

    def __init__(self, title, layers, findings):
        self.title, self.layers, self.findings = title, layers, findings

    def _lines(self, table, bullet):
        if not len(self.layers):
            return [f"{self.title}: no normalisation layer (nn.BatchNorm*, nn.SyncBatchNorm, "
                    f"d2l.BatchNorm/SyncBatchNorm/GhostBatchNorm/Norm, LayerNorm, GroupNorm, InstanceNorm) "
                    f"found: nothing to audit."]
        faults = sum(f.level == "fault" for f in self.findings)
        lines = [f"{self.title}: {len(self.layers)} normalisation layer(s), {faults} fault(s), "
                 f"{len(self.findings) - faults} note(s)", "", table, ""]
        for f in self.findings:
            lines += [f"{bullet}[{f.level}] {f.layer} ({f.kind}): {f.message}", f"  what to do: {f.advice}"]
        return lines + ([] if self.findings else ["No findings."])

    def __str__(self):
        return "\n".join(self._lines(repr(self.layers), "- "))

    __repr__ = __str__

    def _repr_markdown_(self):
        return "\n".join(self._lines(self.layers._repr_markdown_(), "- ")).replace("\n  what", "<br>what")


def _is_bn(m):
    return isinstance(m, _BATCH_NORMS) or (isinstance(m, Norm) and m.kind == "batch")


def _inputs(data, max_batches):
    """The input tensors X of ``data``: a tensor, a tuple (X, y), or an iterable of X or (X, y)."""
    wanted = ("data must be a tensor X, a tuple (X, y) of tensors, or an iterable of X or (X, y) "
              "(a list, a DataLoader)")
    pair = isinstance(data, tuple) and len(data) == 2 and all(map(torch.is_tensor, data))
    if torch.is_tensor(data) or pair:
        data = [data]
    elif hasattr(data, "__array__"):
        raise TypeError(f"{wanted}; got a {type(data).__name__}: convert it with torch.as_tensor(data)")
    elif isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{wanted}; got {type(data).__name__}")
    Xs = []
    for i, item in enumerate(itertools.islice(data, max_batches)):
        if isinstance(item, (tuple, list)) and item:
            item = item[0]
        if not torch.is_tensor(item):
            raise TypeError(f"{wanted}; item {i} of data is (or starts with) a {type(item).__name__}")
        Xs.append(item)
    if not Xs:
        raise ValueError("data is empty: give at least one batch (or data=None to audit without data)")
    return Xs


def _sequential_order(model):
    """{norm layer: the module before it} from the registration order inside ``nn.Sequential``s."""
    before = {}
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            children = [c for c in seq.children() if not isinstance(c, _LOOK_THROUGH)]
            for prev, child in zip(children, children[1:], strict=False):
                if isinstance(child, _NORMS):
                    while list(prev.children()):  # the last module of a block
                        prev = list(prev.children())[-1]
                    before[child] = prev
    return before


def _trace(model, Xs, norms):
    """Run ``model`` on ``Xs`` in eval mode: {norm: the module whose output is its input} and, per norm
    layer, [values per channel, sum, sum of squares] of its inputs (float64)."""
    produced, before, sums = {}, {}, {}

    def after(module, inputs, output):  # forward hook of every leaf module
        source = produced.get(id(inputs[0])) if inputs and isinstance(module, _LOOK_THROUGH) else None
        if torch.is_tensor(output):
            produced[id(output)] = (output, source[1] if source else module)  # keep output alive: ids stay

    def norm_input(module, inputs):
        X = inputs[0] if inputs else None
        if not torch.is_tensor(X):
            return
        if id(X) in produced:
            before.setdefault(module, produced[id(X)][1])
        if X.dim() >= 2 and X.numel() and _is_bn(module) and module.running_mean is not None:
            X = X.detach().transpose(0, 1).reshape(X.shape[1], -1).double()
            s = sums.setdefault(module, [0, 0.0, 0.0])
            s[0], s[1], s[2] = s[0] + X.shape[1], s[1] + X.sum(1), s[2] + (X * X).sum(1)

    modes = {m: m.training for m in model.modules()}
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    handles = [m.register_forward_hook(after) for m in model.modules() if not list(m.children())]
    handles += [m.register_forward_pre_hook(norm_input) for m in norms]
    device = next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device
    try:
        model.eval()
        with torch.no_grad():
            for i, X in enumerate(Xs):
                produced.clear()
                try:
                    model(X.to(device))
                except (RuntimeError, ValueError, TypeError, IndexError) as e:
                    what = f"data batch {i} (shape {tuple(X.shape)}, {X.dtype})"
                    raise ValueError(f"model(X) failed on {what}: {e}. Give data as the model takes it "
                                     f"(shape, dtype)") from e
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
        with torch.no_grad():
            for b, copy in saved:
                b.copy_(copy)
    return before, sums


def _compare(name, m, n, s1, s2, add):
    mean = s1 / n
    var = (s2 / n - mean * mean).clamp(min=0) * (n / max(n - 1, 1))
    rm, rv = m.running_mean.double().cpu(), m.running_var.double().cpu()
    shift = ((mean.cpu() - rm).abs() / (rv + m.eps).sqrt()).max().item()
    ratio = (var.cpu() + m.eps) / (rv + m.eps)
    if shift > _MEAN_SHIFT or ratio.max() > _VAR_RATIO or ratio.min() < 1 / _VAR_RATIO:
        add(name, "far-from-data",
            f"its running statistics do not describe these data ({n} values per channel): means differ by up "
            f"to {shift:.2f} running std; data/running variance ranges {ratio.min():.3g}..{ratio.max():.3g}",
            "if the data are preprocessed as in training, the statistics are stale: re-estimate them "
            "(d2l.precise_bn(model, train_loader)); on a new domain, re-estimate on it")


def bn_audit(model, optimizer=None, data=None, *, max_batches=10):
    """Audit every normalisation layer of ``model``; returns a ``BNAudit`` to print or display.

    Reports per layer its mode, momentum, eps and ``track_running_stats``, and finds: running
    statistics never updated; a Linear/Conv bias or dropout right before BN; BN without running
    statistics; fp16/bf16 running buffers; ``momentum=None``; an unusual eps (outside 1e-7..1e-2). Without
    ``optimizer`` the audit is for evaluation (BN layers in train mode are a fault); with it, for
    training: weight decay on gamma/beta, frozen gamma/beta in a train-mode BN (its running
    statistics still move). ``data`` (a tensor X, a tuple (X, y), or an iterable of X or (X, y),
    at most ``max_batches``) is run through the model in eval mode under no_grad, and each BN's
    running statistics are compared with its input's statistics (far: a mean more than 0.5 running
    std away, or a variance 3 times larger or smaller). "Right before" a layer: with ``data``, the
    module whose output is that layer's input (forward hooks); without, the previous module in the
    same ``nn.Sequential`` (its registration order). Identity/Flatten are looked through.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"bn_audit needs the model, an nn.Module (d2l.bn_audit(net)); "
                        f"got {type(model).__name__}")
    in_optimizer = {}
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer (or None), "
                            f"got {type(optimizer).__name__}")
        in_optimizer = {id(p): g.get("weight_decay", 0) for g in optimizer.param_groups for p in g["params"]}
        if not any(id(p) in in_optimizer for p in model.parameters()):
            raise ValueError("the optimizer holds none of the model's parameters: pass the optimizer "
                             "built from this model's parameters (or optimizer=None)")
    max_batches = _checks.count(max_batches, "max_batches")
    norms = [(name or "(model)", m) for name, m in model.named_modules() if isinstance(m, _NORMS)]
    findings, rows = [], []

    def add(layer, kind, message, advice, level="fault"):
        findings.append(AuditFinding(layer, kind, message, advice, level))

    if data is None:
        before, sums = _sequential_order(model), {}
    else:
        before, sums = _trace(model, _inputs(data, max_batches), [m for _, m in norms])
    for name, m in norms:
        is_bn = _is_bn(m)
        stats = getattr(m, "running_mean", None) is not None
        count = getattr(m, "num_batches_tracked", None) if stats else None
        momentum = getattr(m, "momentum", None) if is_bn else None
        rows.append([name, type(m).__name__, "train" if m.training else "eval",
                     "None" if is_bn and momentum is None else momentum, m.eps, stats,
                     None if count is None else int(count)])
        if stats:
            if m.running_mean.dtype in _checks.HALF_DTYPES:
                add(name, "half-precision-buffers", f"running statistics in {m.running_mean.dtype} "
                    "(model.half()?): the variance loses precision and can overflow or cancel",
                    "keep norm layers in float32: torch.autocast instead of model.half(), or call .float() "
                    "on the norm layers")
            if (count is None or count == 0) and (m.running_mean == 0).all() and (m.running_var == 1).all():
                add(name, "never-updated", "running statistics never updated (mean 0, variance 1, no batch "
                    "seen): in eval mode the layer does not normalise",
                    "train the model in train mode, or load the trained state_dict with its buffers "
                    "(strict=True); or estimate them with d2l.precise_bn")
            elif m in sums:
                _compare(name, m, *sums[m], add)
            if is_bn and momentum is None:
                add(name, "cumulative-momentum", "momentum=None: the running statistics are the equal-weight "
                    "average of all batches since the last reset, early batches as much as the latest",
                    "intended for re-estimation (precise BN); while training use a number such as 0.1",
                    "note")
        elif is_bn:
            add(name, "no-running-stats", "track_running_stats=False: eval mode normalises with the "
                "batch's own statistics, so a prediction depends on the other examples in its batch",
                "create the layer with track_running_stats=True unless this is intended")
        if is_bn and not _EPS_RANGE[0] <= m.eps <= _EPS_RANGE[1]:
            add(name, "unusual-eps", f"eps={m.eps:g} (usual: 1e-5 in PyTorch, 1e-3 in Keras): too large "
                "damps the normalisation, too small lets a near-constant channel blow up", "use eps=1e-5",
                "note")
        prev = before.get(m)
        if (is_bn or isinstance(m, nn.modules.instancenorm._InstanceNorm)) and isinstance(prev, _WITH_BIAS) \
                and prev.bias is not None:
            add(name, "bias-before-norm", f"{type(prev).__name__} with a bias feeds it: the norm subtracts "
                "the mean, so the bias cancels and is wasted", "create that layer with bias=False", "note")
        if is_bn and isinstance(prev, nn.modules.dropout._DropoutNd) and prev.p > 0:
            add(name, "dropout-before-bn", "dropout feeds it: its variance in training differs from eval, "
                "so the running variance is wrong at test time (variance shift, Li et al. 2019)",
                "put dropout after the last BN layer (before the classifier), or remove it")
        params = list(m.parameters(recurse=False))
        if optimizer is not None and any(in_optimizer.get(id(p), 0) > 0 for p in params):
            add(name, "weight-decay", "weight decay is applied to its gamma/beta",
                "usual practice is none on norm parameters: a param group with weight_decay=0 for them",
                "note")
        frozen = params and all(id(p) not in in_optimizer if optimizer is not None else not p.requires_grad
                                for p in params)
        if is_bn and stats and frozen and m.training:
            add(name, "frozen-but-updating", "gamma/beta are frozen but the layer is in train mode: its "
                "running statistics still move with every batch", "call d2l.freeze_bn(model) (keeps BN in "
                "eval mode after model.train()), or train these parameters too")
    bns = [(name, m) for name, m in norms if _is_bn(m)]
    unknown = [name for name, m in bns if m not in before]
    if data is None and unknown:
        add(", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else ""), "order-unknown",
            "the module before these BN layers is unknown (not inside an nn.Sequential): bias and dropout "
            "before them not checked", "pass data=a batch to trace the model", "note")
    training = [name for name, m in bns if m.training]
    if optimizer is None and training:
        add(", ".join(training[:3]) + (", ..." if len(training) > 3 else ""), "train-mode",
            f"audited for evaluation (no optimizer given) but {len(training)} BN layer(s) are in train mode: "
            "evaluating now uses batch statistics and writes the data into the running statistics, "
            "even under torch.no_grad()", "call model.eval() before evaluating")
    title = f"BN audit of {type(model).__name__} ({'train' if model.training else 'eval'} mode, for " \
            f"{'evaluation' if optimizer is None else 'training'})"
    headers = ["layer", "type", "mode", "momentum", "eps", "track_running_stats", "batches seen"]
    return BNAudit(title, Table(headers, rows, formats={"momentum": "{:g}", "eps": "{:.0e}"}), findings)
