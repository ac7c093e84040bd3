# PaddlePaddle's nn.BatchNorm2D with its defaults, on the book's inputs (NCHW).
import inspect

import paddle

paddle.set_device("cpu")
x, x_eval = inputs["x"], inputs["x_eval"]
C = x.shape[2]


def new_layer():
    bn = paddle.nn.BatchNorm2D(C)
    bn.weight.set_value(paddle.to_tensor(inputs["gamma"]))
    bn.bias.set_value(paddle.to_tensor(inputs["beta"]))
    return bn


with paddle.no_grad():
    outputs["y_default"] = new_layer()(paddle.to_tensor(x_eval)).numpy()  # no mode set
    bn = new_layer()
    bn.train()
    ys, means, vars_ = [], [], []
    for xk in x:
        ys.append(bn(paddle.to_tensor(xk)).numpy())
        means.append(bn._mean.numpy().copy())
        vars_.append(bn._variance.numpy().copy())
    bn.eval()
    outputs["y_eval"] = bn(paddle.to_tensor(x_eval)).numpy()
outputs.update(y_train=ys, running_mean=means, running_var=vars_)
defaults = inspect.signature(paddle.nn.BatchNorm2D).parameters
info.update(framework="PaddlePaddle", version=paddle.__version__,
            momentum=defaults["momentum"].default,
            eps=defaults["epsilon"].default,
            channel_axis=1 if defaults["data_format"].default == "NCHW" else -1,
            mode_switch="layer.train() / layer.eval()",
            names=[name for name, _ in bn.named_parameters()]
            + [name for name, _ in bn.named_buffers()])
