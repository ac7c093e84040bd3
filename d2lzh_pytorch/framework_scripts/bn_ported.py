# Load one BN layer's hyperparameters and state, given in each framework's
# own conventions (as d2l.convert_bn writes them), into Keras, PaddlePaddle,
# Flax and MindSpore; return each one's prediction-mode output on x_eval and
# its running mean after one training step on x_step (both NCHW).
# inputs: x_eval, x_step, and "<framework>:<name>" for the state and for
# momentum and eps; only the frameworks given are run. MindSpore needs a
# process of its own: it cannot be imported after PaddlePaddle (both bring
# their own oneDNN).
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np


def layer_of(fw):
    prefix = fw + ":"
    return {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}


def nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def nchw(a):
    return np.moveaxis(np.asarray(a), -1, 1)


x_eval, x_step = inputs["x_eval"], inputs["x_step"]
C = x_eval.shape[1]

if layer_of("keras"):
    import keras

    p = layer_of("keras")
    bn = keras.layers.BatchNormalization(momentum=float(p["momentum"]),
                                         epsilon=float(p["eps"]))
    bn.build(nhwc(x_eval).shape)
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        getattr(bn, name).assign(p[name])
    outputs["keras:y_eval"] = nchw(bn(nhwc(x_eval), training=False))
    bn(nhwc(x_step), training=True)
    outputs["keras:mean_after_step"] = np.asarray(bn.moving_mean)

if layer_of("paddle"):
    import paddle

    paddle.set_device("cpu")
    p = layer_of("paddle")
    bn = paddle.nn.BatchNorm2D(C, momentum=float(p["momentum"]),
                               epsilon=float(p["eps"]))
    for name in ("weight", "bias", "_mean", "_variance"):
        getattr(bn, name).set_value(paddle.to_tensor(p[name]))
    bn.eval()
    outputs["paddle:y_eval"] = bn(paddle.to_tensor(x_eval)).numpy()
    bn.train()
    bn(paddle.to_tensor(x_step))
    outputs["paddle:mean_after_step"] = bn._mean.numpy()

if layer_of("flax"):
    from flax import linen as nn

    p = layer_of("flax")
    bn = nn.BatchNorm(momentum=float(p["momentum"]), epsilon=float(p["eps"]))
    variables = {"params": {"scale": p["params/scale"], "bias": p["params/bias"]},
                 "batch_stats": {"mean": p["batch_stats/mean"],
                                 "var": p["batch_stats/var"]}}
    outputs["flax:y_eval"] = nchw(bn.apply(variables, nhwc(x_eval),
                                           use_running_average=True))
    _, updates = bn.apply(variables, nhwc(x_step), use_running_average=False,
                          mutable=["batch_stats"])
    outputs["flax:mean_after_step"] = np.asarray(updates["batch_stats"]["mean"])

if layer_of("mindspore"):
    import mindspore as ms

    ms.set_context(mode=ms.PYNATIVE_MODE)
    p = layer_of("mindspore")
    bn = ms.nn.BatchNorm2d(C, momentum=float(p["momentum"]), eps=float(p["eps"]))
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        getattr(bn, name).set_data(ms.Tensor(p[name]))
    bn.set_train(False)
    outputs["mindspore:y_eval"] = bn(ms.Tensor(x_eval)).asnumpy()
    bn.set_train(True)
    bn(ms.Tensor(x_step))
    outputs["mindspore:mean_after_step"] = bn.moving_mean.asnumpy()
