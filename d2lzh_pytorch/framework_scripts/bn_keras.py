# Keras 3's BatchNormalization with its defaults (JAX backend), on the book's
# inputs: Keras is channel-last, so NCHW goes in as NHWC and comes back as NCHW.
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np


def nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def nchw(a):
    return np.moveaxis(np.asarray(a), -1, 1)


x, x_eval = inputs["x"], inputs["x_eval"]


def new_layer():
    bn = keras.layers.BatchNormalization()
    bn.build(nhwc(x_eval).shape)
    bn.gamma.assign(inputs["gamma"])
    bn.beta.assign(inputs["beta"])
    return bn


outputs["y_default"] = nchw(new_layer()(nhwc(x_eval)))  # no training= given
bn = new_layer()
ys, means, vars_ = [], [], []
for xk in x:
    ys.append(nchw(bn(nhwc(xk), training=True)))
    means.append(np.asarray(bn.moving_mean))
    vars_.append(np.asarray(bn.moving_variance))
outputs["y_eval"] = nchw(bn(nhwc(x_eval), training=False))
outputs.update(y_train=ys, running_mean=means, running_var=vars_)

# "frozen": trainable=False switches BN to prediction mode, even with training=True
frozen = new_layer()
frozen.trainable = False
outputs["y_frozen_training_true"] = nchw(frozen(nhwc(x_eval), training=True))
outputs["frozen_mean"] = np.asarray(frozen.moving_mean)

# channel-first input to a channel-last layer: Keras takes the last axis (W)
# as the channels and builds one gamma per column, without an error
wrong = keras.layers.BatchNormalization()
wrong(x_eval, training=True)
info["nchw_gamma_shape"] = list(wrong.gamma.shape)

info.update(framework="Keras", version=keras.__version__,
            backend=keras.backend.backend(),
            momentum=bn.momentum, eps=bn.epsilon, channel_axis=bn.axis,
            mode_switch="layer(x, training=True/False)",
            names=[w.path.split("/")[-1] for w in bn.weights])
