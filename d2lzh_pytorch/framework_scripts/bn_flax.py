# Flax (linen) BatchNorm with its defaults, on the book's inputs: channel-last
# like Keras, so NCHW goes in as NHWC and comes back as NCHW.
import flax
import jax
import numpy as np
from flax import linen as nn


def nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def nchw(a):
    return np.moveaxis(np.asarray(a), -1, 1)


x, x_eval = inputs["x"], inputs["x_eval"]
bn = nn.BatchNorm()  # use_running_average must be given, here or per call
variables = bn.init(jax.random.PRNGKey(0), nhwc(x_eval),
                    use_running_average=True)
variables = {"params": {"scale": inputs["gamma"], "bias": inputs["beta"]},
             "batch_stats": variables["batch_stats"]}

try:  # no mode given
    outputs["y_default"] = nchw(bn.apply(variables, nhwc(x_eval)))
except Exception as err:
    info["default_error"] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
ys, means, vars_ = [], [], []
state = variables
for xk in x:
    y, updates = bn.apply(state, nhwc(xk), use_running_average=False,
                          mutable=["batch_stats"])
    state = {"params": state["params"], **updates}
    ys.append(nchw(y))
    means.append(np.asarray(state["batch_stats"]["mean"]))
    vars_.append(np.asarray(state["batch_stats"]["var"]))
outputs["y_eval"] = nchw(bn.apply(state, nhwc(x_eval), use_running_average=True))
outputs.update(y_train=ys, running_mean=means, running_var=vars_)

# Flax's default variance is mean(x**2) - mean(x)**2 (use_fast_variance=True);
# the two-pass mean((x - mean)**2) on the first batch, for comparison
two_pass = nn.BatchNorm(use_fast_variance=False)
y, _ = two_pass.apply(variables, nhwc(x[0]), use_running_average=False,
                      mutable=["batch_stats"])
outputs["y_train_two_pass"] = nchw(y)
info["use_fast_variance"] = bn.use_fast_variance

# forgetting mutable=["batch_stats"] in training mode
try:
    bn.apply(state, nhwc(x[0]), use_running_average=False)
    info["immutable_error"] = None
except Exception as err:
    info["immutable_error"] = f"{type(err).__name__}: {str(err).splitlines()[0]}"

info.update(framework="Flax (linen)", version=flax.__version__,
            momentum=bn.momentum, eps=bn.epsilon, channel_axis=bn.axis,
            mode_switch="apply(..., use_running_average=False/True, "
                        "mutable=['batch_stats'])",
            names=[f"{col}/{name}" for col in ("params", "batch_stats")
                   for name in state[col]])
