# PyTorch's BatchNorm2d with its defaults, on the book's inputs (NCHW).
import inspect

import torch
from torch import nn

x, x_eval = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["x_eval"])
C = x.shape[2]


def new_layer():
    bn = nn.BatchNorm2d(C)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(inputs["gamma"]))
        bn.bias.copy_(torch.from_numpy(inputs["beta"]))
    return bn


with torch.no_grad():
    outputs["y_default"] = new_layer()(x_eval).numpy()  # a new layer, no mode set
    bn = new_layer()
    bn.train()  # training mode: batch statistics, running ones updated
    ys, means, vars_ = [], [], []
    for xk in x:
        ys.append(bn(xk).numpy())
        means.append(bn.running_mean.numpy().copy())
        vars_.append(bn.running_var.numpy().copy())
    bn.eval()  # prediction mode: running statistics
    outputs["y_eval"] = bn(x_eval).numpy()
outputs.update(y_train=ys, running_mean=means, running_var=vars_)
defaults = inspect.signature(nn.BatchNorm2d).parameters
info.update(framework="PyTorch", version=torch.__version__,
            momentum=defaults["momentum"].default, eps=defaults["eps"].default,
            channel_axis=1, mode_switch="net.train() / net.eval()",
            names=[name for name, _ in bn.named_parameters()]
            + [name for name, _ in bn.named_buffers()])
