# MindSpore's nn.BatchNorm2d with its defaults (PyNative mode, CPU), on the
# book's inputs (NCHW).
import inspect

import mindspore as ms
from mindspore import Tensor, nn

ms.set_context(mode=ms.PYNATIVE_MODE)
x, x_eval = inputs["x"], inputs["x_eval"]
C = x.shape[2]


def new_layer():
    bn = nn.BatchNorm2d(C)
    bn.gamma.set_data(Tensor(inputs["gamma"]))
    bn.beta.set_data(Tensor(inputs["beta"]))
    return bn


outputs["y_default"] = new_layer()(Tensor(x_eval)).asnumpy()  # no mode set
bn = new_layer()
bn.set_train(True)
ys, means, vars_ = [], [], []
for xk in x:
    ys.append(bn(Tensor(xk)).asnumpy())
    means.append(bn.moving_mean.asnumpy().copy())
    vars_.append(bn.moving_variance.asnumpy().copy())
bn.set_train(False)
outputs["y_eval"] = bn(Tensor(x_eval)).asnumpy()
outputs.update(y_train=ys, running_mean=means, running_var=vars_)
defaults = inspect.signature(nn.BatchNorm2d).parameters
info.update(framework="MindSpore", version=ms.__version__,
            momentum=defaults["momentum"].default, eps=defaults["eps"].default,
            channel_axis=1 if defaults["data_format"].default == "NCHW" else -1,
            mode_switch="cell.set_train(True/False)",
            names=[name for name, _ in bn.parameters_and_names()])
