# MXNet Gluon's nn.BatchNorm with its defaults, on the book's inputs (NCHW).
import mxnet as mx
from mxnet import autograd, gluon, nd

mx.random.seed(0)
x, x_eval = inputs["x"], inputs["x_eval"]


def new_layer():
    bn = gluon.nn.BatchNorm()
    bn.initialize()
    bn(nd.array(x_eval))  # outside autograd.record: prediction mode, stats unchanged
    bn.gamma.set_data(nd.array(inputs["gamma"]))
    bn.beta.set_data(nd.array(inputs["beta"]))
    return bn


outputs["y_default"] = new_layer()(nd.array(x_eval)).asnumpy()  # no mode set
bn = new_layer()
ys, means, vars_ = [], [], []
for xk in x:
    xk = nd.array(xk)
    with autograd.record():  # training mode = recording (train_mode=True)
        y = bn(xk)
    y.backward()  # Gluon updates the running statistics in the backward pass
    ys.append(y.asnumpy())
    means.append(bn.running_mean.data().asnumpy())
    vars_.append(bn.running_var.data().asnumpy())
outputs["y_eval"] = bn(nd.array(x_eval)).asnumpy()  # prediction mode
outputs.update(y_train=ys, running_mean=means, running_var=vars_)

# the surprise: does a forward pass alone (no backward) move the statistics?
probe = new_layer()
with autograd.record():
    probe(nd.array(x[0]))
mx.nd.waitall()  # MXNet's engine is asynchronous: wait before reading
outputs["mean_after_forward_only"] = probe.running_mean.data().asnumpy()
with autograd.record():
    y = probe(nd.array(x[0]))
y.backward()
mx.nd.waitall()
outputs["mean_after_backward"] = probe.running_mean.data().asnumpy()

# which mode does a forward pass use? (output compared with the modes' outputs)
probe = new_layer()
xk = nd.array(x[0])
with autograd.record():  # recording: training mode by default
    outputs["y_record"] = probe(xk).asnumpy()
with autograd.record(train_mode=False):  # recording, prediction mode
    outputs["y_record_predict"] = probe(xk).asnumpy()
with autograd.train_mode():  # training mode without recording
    outputs["y_train_mode"] = probe(xk).asnumpy()
outputs["y_plain"] = probe(xk).asnumpy()  # neither: prediction mode

kwargs = bn._kwargs
info.update(framework="MXNet Gluon", version=mx.__version__,
            momentum=kwargs["momentum"], eps=kwargs["eps"],
            channel_axis=kwargs["axis"],
            mode_switch="autograd.record(train_mode=True/False)",
            names=[name[len(bn.prefix):] for name in bn.collect_params()])
