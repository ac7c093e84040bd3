# bn_ported.py for MXNet Gluon (its own environment): load a BN layer given
# in Gluon's conventions, return the prediction-mode output on x_eval and the
# running mean after one training step on x_step.
from mxnet import autograd, gluon, nd

p = {k[len("mxnet:"):]: v for k, v in inputs.items() if k.startswith("mxnet:")}
bn = gluon.nn.BatchNorm(momentum=float(p["momentum"]), epsilon=float(p["eps"]))
bn.initialize()
bn(nd.array(inputs["x_eval"]))  # creates the parameters (prediction mode)
for name in ("gamma", "beta", "running_mean", "running_var"):
    getattr(bn, name).set_data(nd.array(p[name]))
outputs["mxnet:y_eval"] = bn(nd.array(inputs["x_eval"])).asnumpy()
with autograd.record():
    y = bn(nd.array(inputs["x_step"]))
y.backward()
outputs["mxnet:mean_after_step"] = bn.running_mean.data().asnumpy()
