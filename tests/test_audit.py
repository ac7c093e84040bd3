"""``d2l.bn_audit``: each planted fault is found, a clean model has none, the model is never changed."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import d2lzh_pytorch as d2l


def _data(n=64, seed=0, scale=1.0, shift=0.0):
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(seed)) * scale + shift


def _trained(net):
    """Running statistics estimated on ``_data`` (forward passes in train mode), then eval mode."""
    net.train()
    with torch.no_grad():
        for seed in range(40):
            net(_data(seed=seed))
    return net.eval()


def _net(*layers):
    return nn.Sequential(*layers) if layers else nn.Sequential(
        nn.Linear(8, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def _no_decay_on_norms(net, weight_decay=1e-4):
    norms = {id(p) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for p in m.parameters()}
    return torch.optim.SGD([
        {"params": [p for p in net.parameters() if id(p) not in norms]},
        {"params": [p for p in net.parameters() if id(p) in norms], "weight_decay": 0}],
        lr=0.1, weight_decay=weight_decay)


def _kinds(audit, layer=None):
    return {f.kind for f in audit.findings if layer is None or f.layer == layer}


def test_a_clean_model_has_no_findings():
    net = _trained(_net())
    assert d2l.bn_audit(net).findings == []
    assert d2l.bn_audit(net, _no_decay_on_norms(net)).findings == []
    assert d2l.bn_audit(net, data=_data(seed=99)).findings == []


class _ConvBN(nn.Module):  # not a Sequential: only a trace finds what feeds the BN
    def __init__(self, bias):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, bias=bias), nn.BatchNorm2d(4)

    def forward(self, X):
        return self.bn(self.conv(X)).relu()


FAULTS = {  # kind: (model, audit arguments, layer)
    "never-updated": (lambda: _net().eval(), {}, "1"),
    "far-from-data": (lambda: _trained(_net()), {"data": _data(scale=5.0, shift=3.0)}, "1"),
    "bias-before-norm": (lambda: _trained(_net(nn.Linear(8, 16), nn.BatchNorm1d(16))), {}, "1"),
    "dropout-before-bn": (lambda: _trained(_net(nn.Linear(8, 16, bias=False), nn.Dropout(0.3),
                                                nn.BatchNorm1d(16))), {}, "2"),
    "weight-decay": (lambda: _trained(_net()), {"optimizer": 1e-4}, "1"),
    "no-running-stats": (lambda: _net(nn.BatchNorm1d(8, track_running_stats=False)).eval(), {}, "0"),
    "half-precision-buffers": (lambda: _trained(_net()).half(), {}, "1"),
    "cumulative-momentum": (lambda: _trained(_net(nn.BatchNorm1d(8, momentum=None))), {}, "0"),
    "unusual-eps": (lambda: _trained(_net(nn.BatchNorm1d(8, eps=0.1))), {}, "0"),
    "train-mode": (lambda: _trained(_net()).train(), {}, "1"),
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_each_planted_fault_is_found(kind):
    make, kwargs, layer = FAULTS[kind]
    net = make()
    if "optimizer" in kwargs:
        kwargs = {"optimizer": torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=kwargs["optimizer"])}
    audit = d2l.bn_audit(net, **kwargs)
    assert kind in _kinds(audit, layer), audit
    found = next(f for f in audit.findings if f.kind == kind)
    assert found.message and found.advice and found.level in ("fault", "note")


def test_frozen_but_updating_is_found_from_the_optimizer_or_requires_grad():
    net = _trained(_net()).train()
    bn_params = set(net[1].parameters())
    opt = torch.optim.SGD([p for p in net.parameters() if p not in bn_params], lr=0.1)
    assert "frozen-but-updating" in _kinds(d2l.bn_audit(net, opt), "1")
    assert "frozen-but-updating" not in _kinds(d2l.bn_audit(net, _no_decay_on_norms(net)))
    for p in bn_params:
        p.requires_grad_(False)
    assert "frozen-but-updating" in _kinds(d2l.bn_audit(net), "1")
    d2l.freeze_bn(net)  # the fix: the layer stays in eval mode
    assert "frozen-but-updating" not in _kinds(d2l.bn_audit(net))


def test_the_layer_before_a_bn_outside_a_sequential_is_traced_with_data():
    net = _ConvBN(bias=True).eval()
    assert "order-unknown" in _kinds(d2l.bn_audit(net))
    assert "bias-before-norm" not in _kinds(d2l.bn_audit(net))
    X = torch.randn(4, 3, 6, 6)
    assert "bias-before-norm" in _kinds(d2l.bn_audit(net, data=X), "bn")
    assert "bias-before-norm" not in _kinds(d2l.bn_audit(_ConvBN(bias=False).eval(), data=X))


def test_data_may_be_pairs_or_a_loader_and_only_max_batches_are_read():
    net = _trained(_net())
    far = _data(scale=5.0, shift=3.0)
    loader = DataLoader(TensorDataset(far, torch.zeros(64, dtype=torch.long)), batch_size=16)
    assert "far-from-data" in _kinds(d2l.bn_audit(net, data=loader))
    assert "far-from-data" in _kinds(d2l.bn_audit(net, data=(far, torch.zeros(64))))

    def two_then_broken():
        yield _data(seed=1)
        yield _data(seed=2)
        raise AssertionError("read past max_batches")

    assert d2l.bn_audit(net, data=two_then_broken(), max_batches=2).findings == []


def test_the_package_layers_and_other_norms_are_listed():
    net = nn.Sequential(d2l.BatchNorm(8, 2), d2l.GhostBatchNorm(8, 2, ghost_size=4), nn.LayerNorm(8),
                        nn.Unflatten(1, (8, 1)), nn.GroupNorm(2, 8), d2l.Norm("batch", 8)).eval()
    audit = d2l.bn_audit(net)
    assert audit.layers["type"].tolist() == ["BatchNorm", "GhostBatchNorm", "LayerNorm", "GroupNorm", "Norm"]
    assert {f.layer for f in audit.findings if f.kind == "never-updated"} == {"0", "1", "5"}


def _everything():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=None), nn.Dropout(0.2),
                        nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.InstanceNorm2d(4, track_running_stats=True),
                        d2l.BatchNorm(4, 4), nn.Flatten(), nn.Linear(4 * 36, 2))
    net.train()
    with torch.no_grad():
        net(torch.randn(8, 3, 8, 8))
    net[3].eval()
    return net


def test_the_audit_does_not_change_the_model():
    net = _everything()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=1e-3)
    audit = d2l.bn_audit(net, opt, data=[torch.randn(8, 3, 8, 8) * 4 for _ in range(3)])
    assert audit.findings
    after = net.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key
    assert [m.training for m in net.modules()] == modes
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())


def test_the_report_reads_well_and_a_model_without_norms_says_so():
    text = str(d2l.bn_audit(_net(nn.Linear(8, 16), nn.BatchNorm1d(16)).train()))
    assert "track_running_stats" in text and "what to do: create that layer with bias=False" in text
    markdown = d2l.bn_audit(_net().eval())._repr_markdown_()
    assert "| layer | type | mode |" in markdown and "never-updated" in markdown
    empty = d2l.bn_audit(nn.Sequential(nn.Linear(2, 2)))
    assert empty.findings == [] and "no normalisation layer" in str(empty)
    assert "No findings." in str(d2l.bn_audit(_trained(_net())))


@pytest.mark.parametrize("args, error, words", [
    (("net",), TypeError, "nn.Module"),
    ((None, "sgd"), TypeError, "torch.optim.Optimizer"),
    ((None, torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)), ValueError, "none of the model"),
    ((None, None, np.zeros((4, 8))), TypeError, "torch.as_tensor"),
    ((None, None, "batch"), TypeError, "iterable of X"),
    ((None, None, [1, 2]), TypeError, "item 0 of data"),
    ((None, None, []), ValueError, "data is empty"),
    ((None, None, torch.randn(4, 5)), ValueError, "data batch 0 (shape (4, 5)"),
])
def test_bad_arguments_say_what_to_do(args, error, words):
    net = _trained(_net())
    args = (net if args[0] is None else args[0],) + args[1:]
    with pytest.raises(error, match=None) as info:
        d2l.bn_audit(*args)
    assert words in str(info.value)
    with pytest.raises(ValueError, match="max_batches"):
        d2l.bn_audit(net, data=_data(), max_batches=0)
