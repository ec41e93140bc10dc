"""kerastricks from plain Keras: its components in ``compile``/``fit``/``save``, no recipe, no trainer.

    python examples/plain_keras.py fit  model.keras   # builds, trains, saves model + its predictions
    python examples/plain_keras.py load model.keras   # a fresh process: loads it, predicts, compares

The second command imports nothing but ``keras`` and ``kerastricks`` (the classes register themselves
with ``keras.saving`` on ``import kerastricks``), and exits 1 if its predictions differ.
"""

import sys

import keras
import numpy as np

import kerastricks as kt


def data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]  # 8x8x1
    return x, digits.target.astype("int32")


def fit(path: str) -> None:
    keras.utils.set_random_seed(0)
    x, y = data()
    epochs, batch = 3, 64
    steps = epochs * -(-len(x) // batch)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        kt.layers.WSConv2D(16, 3, padding="same", activation="relu"),        # weight standardization
        kt.layers.ExtendedBatchNormalization(),                                # BN with a per-sample escape
        kt.layers.ACBlock(16, 3),                                              # ACNet: fuses to one conv later
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])
    schedule = kt.schedules.OneCycle(maximal_learning_rate=3e-2, total_steps=steps)
    model.compile(optimizer=kt.optimizers.Adafactor(learning_rate=schedule),
                  loss=kt.losses.SparseCrossentropy(label_smoothing=0.1, from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    model.save(path)
    np.save(path + ".predictions.npy", model.predict(x, verbose=0))
    print(f"trained {len(model.layers)} layers, accuracy {history.history['accuracy'][-1]:.3f}, saved {path}")


def load(path: str) -> int:
    x, _ = data()
    model = keras.models.load_model(path)
    got = model.predict(x, verbose=0)
    want = np.load(path + ".predictions.npy")
    same = np.array_equal(got, want)
    layers = ", ".join(type(layer).__name__ for layer in model.layers)
    print(f"loaded [{layers}] with {type(model.optimizer).__name__} and {type(model.loss).__name__}; "
          f"predictions equal: {same} (max |diff| {np.max(np.abs(got - want)):.3g})")
    return 0 if same else 1


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    sys.exit(fit(target) if command == "fit" else load(target))
