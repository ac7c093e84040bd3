"""Chapter 11: other frameworks' BN against d2l.BatchNorm, and d2l.convert_bn both ways.

The first tests need only numpy and torch. The others run the frameworks in
their environments (``make frameworks``): they are skipped when one is missing,
except under ``BN_BOOK_REQUIRE_ENVS=1`` (``make test``), where that fails.
"""

import os

import numpy as np
import pytest
import torch

import d2lzh_pytorch as d2l
from d2lzh_pytorch import frameworks

FRAMEWORKS = ["mxnet", "paddle", "keras", "flax", "mindspore"]
SCRIPT = {"pytorch": "bn_torch"} | {fw: f"bn_{fw}" for fw in FRAMEWORKS}


def need(env):
    if d2l.have_env(env, quiet=True):
        return
    if os.environ.get("BN_BOOK_REQUIRE_ENVS") == "1":
        pytest.fail(f"environment {env!r} is missing; `make frameworks` creates it")
    pytest.skip(f"environment {env!r} is not installed (make frameworks)")


def random_layer(fw, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 2, channels), rng.standard_normal(channels),
              rng.standard_normal(channels), rng.uniform(0.1, 3, channels)]
    layer = dict(zip(d2l.BN_CONVENTIONS[fw]["names"], (a.astype(np.float32) for a in arrays), strict=True))
    return layer | {"momentum": 0.3, "eps": 1e-3}


# ---------- convert_bn without any framework ----------

@pytest.mark.parametrize("fw", sorted(d2l.BN_CONVENTIONS))
def test_convert_to_pytorch_and_back_is_the_identity(fw):
    layer = random_layer(fw)
    torch_layer = d2l.convert_bn(layer, fw, "pytorch")
    back = d2l.convert_bn(torch_layer, "pytorch", fw)
    assert set(back) == set(layer)
    for key, value in layer.items():
        assert np.allclose(back[key], value, rtol=0, atol=1e-12), key


@pytest.mark.parametrize("fw, momentum, torch_momentum", [
    ("mxnet", 0.9, 0.1), ("paddle", 0.9, 0.1), ("keras", 0.99, 0.01), ("flax", 0.99, 0.01),
    ("mindspore", 0.9, 0.1), ("pytorch", 0.1, 0.1)])
def test_default_momenta_map_to_pytorchs_convention(fw, momentum, torch_momentum):
    layer = random_layer(fw)
    del layer["momentum"], layer["eps"]  # the framework's defaults
    out = d2l.convert_bn(layer, fw)
    assert d2l.BN_CONVENTIONS[fw]["momentum"] == momentum
    assert out["momentum"] == torch_momentum  # exactly: no 0.09999999999999998
    assert out["eps"] == d2l.BN_CONVENTIONS[fw]["eps"]  # eps travels with the layer
    assert list(out)[2:] == ["weight", "bias", "running_mean", "running_var"]


def test_convert_keeps_eps_and_maps_between_two_frameworks():
    out = d2l.convert_bn({"gamma": 1, "beta": 0, "moving_mean": 0, "moving_variance": 1}, "keras", "mxnet")
    assert out["eps"] == 1e-3 and out["momentum"] == 0.99
    assert set(out) == {"momentum", "eps", "gamma", "beta", "running_mean", "running_var"}


def test_convert_rejects_bad_input():
    layer = random_layer("keras")
    with pytest.raises(ValueError, match="unknown framework"):
        d2l.convert_bn(layer, "tensorflow")
    with pytest.raises(KeyError, match="not keras's BN names"):
        d2l.convert_bn(layer | {"running_mean": 0}, "keras")
    with pytest.raises(KeyError, match="missing"):
        d2l.convert_bn({k: v for k, v in layer.items() if k != "beta"}, "keras")
    with pytest.raises(ValueError, match="momentum must be in"):
        d2l.convert_bn(layer | {"momentum": 90}, "keras")


def test_ported_state_gives_pytorch_the_same_prediction_and_running_averages():
    # a layer in Keras's conventions, evaluated by a NumPy Keras formula and by PyTorch after convert_bn
    layer = random_layer("keras") | {"momentum": 0.99}
    x = np.random.default_rng(1).standard_normal((8, 3, 4, 4)).astype(np.float32)
    c = (1, -1, 1, 1)
    keras_y = (layer["gamma"].reshape(c) * (x - layer["moving_mean"].reshape(c))
               / np.sqrt(layer["moving_variance"].reshape(c) + layer["eps"]) + layer["beta"].reshape(c))
    keras_mean = 0.99 * layer["moving_mean"] + 0.01 * x.mean((0, 2, 3))
    p = d2l.convert_bn(layer, "keras")
    bn = torch.nn.BatchNorm2d(3, eps=p["eps"], momentum=p["momentum"])
    bn.load_state_dict({k: torch.from_numpy(p[k]) for k in ("weight", "bias", "running_mean", "running_var")},
                       strict=False)
    with torch.no_grad():
        assert np.abs(bn.eval()(torch.from_numpy(x)).numpy() - keras_y).max() < 1e-5
        bn.train()(torch.from_numpy(x))
    assert np.abs(bn.running_mean.numpy() - keras_mean).max() < 1e-6
    # and the naive port (PyTorch's default eps) is measurably different
    naive = torch.nn.BatchNorm2d(3).eval()
    naive.load_state_dict(bn.state_dict())
    naive.eps = 1e-5
    naive.running_mean.copy_(torch.from_numpy(layer["moving_mean"]))
    with torch.no_grad():
        assert np.abs(naive(torch.from_numpy(x)).numpy() - keras_y).max() > 1e-4


# ---------- run_in_env and have_env ----------

def test_run_in_env_exchanges_arrays_with_the_books_interpreter():
    inputs = d2l.bn_probe_inputs(seed=3)
    run = d2l.run_in_env("book", "bn_torch", inputs)
    assert run["y_train"].shape == inputs["x"].shape
    row = d2l.measure_bn_conventions(run, inputs)
    assert row["momentum_weights"] == "new" and row["unbiased"] and row["default_mode"] == "training"
    assert abs(row["eps_measured"] - 1e-5) < 1e-7 and row["stats_err"] < 1e-6


def test_run_in_env_reports_what_went_wrong(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown environment"):
        d2l.run_in_env("tensorflow", "bn_torch")
    with pytest.raises(FileNotFoundError, match="the book's scripts are"):
        d2l.run_in_env("book", "no_such_script")
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit('this script fails on purpose')\n")
    with pytest.raises(RuntimeError, match="fails on purpose"):
        d2l.run_in_env("book", str(bad))
    monkeypatch.setenv("BN_BOOK_VENVS", str(tmp_path))
    with pytest.raises(d2l.EnvMissing, match="make frameworks"):
        d2l.run_in_env("mxnet", "bn_mxnet")


def test_have_env_says_in_chinese_what_to_do_and_fails_a_full_book_build(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BN_BOOK_VENVS", str(tmp_path))
    monkeypatch.setenv("BN_BOOK_BUILD", "0")
    assert d2l.have_env("book") is True
    assert d2l.have_env("mxnet") is False
    printed = capsys.readouterr().out
    assert "make frameworks" in printed and "跳过" in printed and "Colab" in printed
    monkeypatch.setenv("BN_BOOK_BUILD", "1")
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    with pytest.raises(d2l.EnvMissing):
        d2l.have_env("frameworks")
    monkeypatch.setenv("BN_BOOK_QUICK", "1")
    assert d2l.have_env("frameworks", quiet=True) is False


# ---------- each framework's BN against d2l.BatchNorm ----------

@pytest.fixture(scope="module")
def probe():
    return d2l.bn_probe_inputs(seed=11)


@pytest.fixture(scope="module")
def runs(probe):
    """One run of each framework's probe script (the environments that exist)."""
    done = {}
    for fw in FRAMEWORKS:
        env = d2l.FRAMEWORK_ENV[fw]
        if d2l.have_env(env, quiet=True):
            done[fw] = d2l.run_in_env(env, SCRIPT[fw], probe)
    return done


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_measured_conventions_are_the_ones_convert_bn_uses(fw, runs, probe):
    need(d2l.FRAMEWORK_ENV[fw])
    row = d2l.measure_bn_conventions(runs[fw], probe)
    conv = d2l.BN_CONVENTIONS[fw]
    assert row["momentum"] == conv["momentum"] and row["momentum_weights"] == conv["momentum_weights"]
    assert row["eps_default"] == conv["eps"] and abs(row["eps_measured"] / conv["eps"] - 1) < 0.05
    assert row["unbiased"] == conv["unbiased"] and row["channel_axis"] == conv["channel_axis"]
    assert set(conv["names"]) <= set(row["names"])
    assert row["stats_err"] < 1e-6 and row["y_eval_err"] < 1e-5


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_framework_bn_equals_d2l_batchnorm_under_converted_conventions(fw, runs, probe):
    need(d2l.FRAMEWORK_ENV[fw])
    run = runs[fw]
    conv = d2l.BN_CONVENTIONS[fw]
    p = d2l.convert_bn({name: 0 for name in conv["names"]}, fw)
    bn = d2l.BatchNorm(probe["x"].shape[2], 4, eps=p["eps"], momentum=p["momentum"])
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(probe["gamma"]).reshape(bn.weight.shape))
        bn.bias.copy_(torch.from_numpy(probe["beta"]).reshape(bn.bias.shape))
    n = probe["x"][0].size // probe["x"].shape[2]
    keep = 1.0  # weight of the initial running variance (1) after k steps
    for k, xk in enumerate(probe["x"]):
        with torch.no_grad():
            y = bn.train()(torch.from_numpy(xk)).numpy()
        keep *= 1 - p["momentum"]
        mean, var = bn.running_mean.numpy().ravel(), bn.running_var.numpy().ravel()
        theirs = run["running_var"][k]
        if not conv["unbiased"]:  # d2l.BatchNorm (like PyTorch) feeds n/(n-1) x the batch variance
            theirs = keep + n / (n - 1) * (theirs - keep)
        assert np.abs(mean - run["running_mean"][k]).max() <= 1e-6
        assert np.abs(var - theirs).max() <= 1e-6
        if fw != "flax":  # Flax's default variance is E[x^2] - E[x]^2 in float32: see below
            assert np.abs(y - run["y_train"][k]).max() < 1e-4
        elif k == 0:
            assert np.abs(y - run["y_train_two_pass"]).max() < 1e-4
            assert np.abs(y - run["y_train"][0]).max() > 1e-3
    with torch.no_grad():
        y_eval = bn.eval()(torch.from_numpy(probe["x_eval"])).numpy()
    if conv["unbiased"]:
        assert np.abs(y_eval - run["y_eval"]).max() < 1e-5


def test_porting_pytorch_to_each_framework(probe):
    """PyTorch -> each framework with convert_bn: same prediction, same running mean after a step."""
    layer = random_layer("pytorch", seed=5) | {"momentum": 0.2}
    torch_bn = torch.nn.BatchNorm2d(3, eps=layer["eps"], momentum=layer["momentum"])
    torch_bn.load_state_dict({k: torch.from_numpy(layer[k]) for k in d2l.BN_CONVENTIONS["pytorch"]["names"]},
                             strict=False)
    x_eval, x_step = probe["x_eval"], probe["x"][0]
    with torch.no_grad():
        y_eval = torch_bn.eval()(torch.from_numpy(x_eval)).numpy()
        torch_bn.train()(torch.from_numpy(x_step))
    mean_after = torch_bn.running_mean.numpy()
    checked = 0
    for env, script, fws in (("frameworks", "bn_ported", ["keras", "paddle", "flax"]),
                             ("frameworks", "bn_ported", ["mindspore"]),  # not after Paddle: see the script
                             ("mxnet", "bn_ported_mxnet", ["mxnet"])):
        if not d2l.have_env(env, quiet=True):
            need(env)
        inputs = {"x_eval": x_eval, "x_step": x_step}
        for fw in fws:
            inputs |= {f"{fw}:{k}": np.asarray(v) for k, v in d2l.convert_bn(layer, "pytorch", fw).items()}
        out = d2l.run_in_env(env, script, inputs).outputs
        for fw in fws:
            assert np.abs(out[f"{fw}:y_eval"] - y_eval).max() < 1e-5, fw
            assert np.abs(out[f"{fw}:mean_after_step"] - mean_after).max() < 1e-6, fw
            checked += 1
    assert checked == 5


def test_gluon_updates_its_running_statistics_in_the_backward_pass(runs, probe):
    need("mxnet")
    run = runs["mxnet"]
    assert np.all(run["mean_after_forward_only"] == 0)
    expected = 0.1 * probe["x"][0].mean((0, 2, 3))
    assert np.abs(run["mean_after_backward"] - expected).max() < 1e-6
    assert np.array_equal(run["y_record_predict"], run["y_plain"])  # record(train_mode=False): prediction
    assert np.abs(run["y_record"] - run["y_plain"]).max() > 0.1  # record(): training mode
    assert np.array_equal(run["y_train_mode"], run["y_record"])


def test_keras_trainable_false_means_prediction_mode(runs, probe):
    need("frameworks")
    run = runs["keras"]
    assert np.all(run["frozen_mean"] == 0)
    c = (1, -1, 1, 1)
    as_eval = probe["gamma"].reshape(c) * probe["x_eval"] / np.sqrt(1 + 1e-3) + probe["beta"].reshape(c)
    assert np.abs(run["y_frozen_training_true"] - as_eval).max() < 1e-5


def test_flax_needs_mutable_batch_stats(runs):
    need("frameworks")
    assert "batch_stats" in runs["flax"].info["immutable_error"]
    assert "use_running_average" in runs["flax"].info["default_error"]


def test_the_seed_script_is_seed_003_with_only_the_marked_lines_changed():
    """Each changed line of seed003_gluon.py carries the original above it; undoing them gives the seed."""
    text = d2l.script_path("seed003_gluon").read_text(encoding="utf-8").splitlines()
    restored, changed = [], 0
    for i, line in enumerate(text):
        if line.startswith("# ") and not line.startswith("# seed 003:") and i < 3:
            continue  # the header
        if line.strip().startswith("# seed 003: "):
            indent = line[:len(line) - len(line.lstrip())]
            restored.append(indent + line.strip()[len("# seed 003: "):])
            changed += 1
        elif i > 0 and text[i - 1].strip().startswith("# seed 003: "):
            continue  # the replacement
        else:
            restored.append(line)
    assert changed == 6
    seeds = sorted((frameworks.ROOT.parent / "shared" / "seeds").glob("003_*.txt"))
    if not seeds:
        pytest.skip("the original notes (../shared/seeds) are not beside this checkout")
    seed = seeds[0].read_text(encoding="utf-8")
    for line in restored:
        if line.strip() and not line.startswith("# "):
            assert line.rstrip() in seed or line.strip() in seed, line
