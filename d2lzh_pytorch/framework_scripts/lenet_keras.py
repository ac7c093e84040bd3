# LeNet with BN trained in Keras 3 (JAX backend), channel-last as Keras is.
# inputs: train_images/test_images (N, 28, 28) uint8, train_labels, seed,
# epochs. outputs: the test logits and every layer's weights under its name.
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np
from keras import layers

keras.utils.set_random_seed(int(inputs["seed"]))


def images(key):  # (N, 28, 28) uint8 -> (N, 28, 28, 1) float32 in [0, 1]
    return (inputs[key].astype(np.float32) / 255)[..., None]


def block(layer):  # layer, BN, sigmoid: BN before the activation
    return [layer, layers.BatchNormalization(), layers.Activation("sigmoid")]


net = keras.Sequential(
    [keras.Input((28, 28, 1))]
    + block(layers.Conv2D(6, 5)) + [layers.MaxPooling2D(2)]
    + block(layers.Conv2D(16, 5)) + [layers.MaxPooling2D(2)]
    + [layers.Flatten()]
    + block(layers.Dense(120)) + block(layers.Dense(84))
    + [layers.Dense(10)])
net.compile(optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"])
history = net.fit(images("train_images"), inputs["train_labels"],
                  batch_size=256, epochs=int(inputs["epochs"]), verbose=0)
outputs["test_logits"] = net.predict(images("test_images"), verbose=0)
for layer in net.layers:
    for w in layer.weights:
        outputs[f"{layer.name}/{w.name}"] = np.asarray(w)
info.update(train_acc=history.history["accuracy"],
            bn_hyperparameters={layer.name: [layer.momentum, layer.epsilon]
                                for layer in net.layers
                                if isinstance(layer, layers.BatchNormalization)},
            layers=[layer.name for layer in net.layers])
