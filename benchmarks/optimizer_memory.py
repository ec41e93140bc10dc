"""Optimizer state against Adam's, on a 3x1024 MLP and on a Transformer-style block.

State is counted from each optimizer's variables after ``build`` (the step
counter and learning rate are left out, see ``kerastricks.memory``); the
figure is ``state scalars / Adam's state scalars``. Counting needs no timing,
so every optimizer is measured in this one process.

    python benchmarks/optimizer_memory.py [--quick]

Models: ``mlp`` (1024 -> 3 x Dense 1024 -> 10), ``transformer`` (one encoder
block, d_model 512, 8 heads, feed-forward 2048, 2-D projection kernels) and
``transformer_mha`` (the same block with Keras's ``MultiHeadAttention``, whose
3-D kernels ``(512, 8, 64)`` / ``(8, 64, 512)`` have last two dimensions below
Adafactor's ``min_dim_size_to_factor=128``, so Adafactor keeps full
accumulators for them).

Last line: JSON ``{"<optimizer>_state_ratio_<model>": ..., ...}`` for adafactor,
sm3, keras_adafactor, sgd_momentum (and adafactor_momentum / sm3_momentum, the
variants with a first moment).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keras
from keras import ops

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table


def mlp_3x1024():
    inputs = keras.Input((1024,))
    h = inputs
    for i in range(3):
        h = keras.layers.Dense(1024, activation="relu", name=f"dense_{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(h), name="mlp_3x1024")


def transformer_block(d_model: int = 512, heads: int = 8, ff: int = 2048, seq: int = 128, mha: bool = False):
    """One pre-norm encoder block: multi-head self-attention and a feed-forward layer.

    With ``mha=False`` the attention projections are 2-D ``Dense`` kernels
    (``d_model x d_model``, the layout of the Adafactor paper's Transformer);
    with ``mha=True`` it is Keras's ``MultiHeadAttention``, whose einsum
    kernels are 3-D (``d_model x heads x head_dim``).
    """
    inputs = keras.Input((seq, d_model))
    h = keras.layers.LayerNormalization(name="ln_1")(inputs)
    if mha:
        h = keras.layers.MultiHeadAttention(heads, d_model // heads, name="attention")(h, h)
    else:
        h = DenseAttention(d_model, heads, name="attention")(h)
    x = keras.layers.Add()([inputs, h])
    h = keras.layers.LayerNormalization(name="ln_2")(x)
    h = keras.layers.Dense(ff, activation="gelu", name="ff_in")(h)
    h = keras.layers.Dense(d_model, name="ff_out")(h)
    return keras.Model(inputs, keras.layers.Add()([x, h]), name="transformer_block")


class DenseAttention(keras.layers.Layer):
    """Self-attention with 2-D q/k/v/output projection kernels (``d_model x d_model``)."""

    def __init__(self, d_model: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads
        self.proj = {n: keras.layers.Dense(d_model, name=n) for n in ("query", "key", "value", "output")}

    def call(self, x):
        b, t, d = ops.shape(x)[0], ops.shape(x)[1], x.shape[-1]

        def split(y):
            return ops.transpose(ops.reshape(y, (b, t, self.heads, d // self.heads)), (0, 2, 1, 3))

        q, k, v = (split(self.proj[n](x)) for n in ("query", "key", "value"))
        w = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / (d // self.heads) ** 0.5, axis=-1)
        return self.proj["output"](ops.reshape(ops.transpose(ops.matmul(w, v), (0, 2, 1, 3)), (b, t, d)))


def optimizers():
    from kerastricks.optimizers import SM3, Adafactor

    return {
        "adam": lambda: keras.optimizers.Adam(),
        "sgd_momentum": lambda: keras.optimizers.SGD(momentum=0.9),
        "keras_adafactor": lambda: keras.optimizers.Adafactor(),
        "adafactor": lambda: Adafactor(),
        "sm3": lambda: SM3(),
        "adafactor_momentum": lambda: Adafactor(beta_1=0.9),
        "sm3_momentum": lambda: SM3(momentum=0.9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="same measurement (counting is already fast)")
    parser.parse_args()
    from kerastricks.memory import optimizer_state

    models = {"mlp": mlp_3x1024(), "transformer": transformer_block(),
              "transformer_mha": transformer_block(mha=True)}
    result: dict[str, float] = {}
    rows = []
    for model_name, model in models.items():
        states = {name: optimizer_state(model, make()) for name, make in optimizers().items()}
        adam = states["adam"]["state_scalars"]
        for name, state in states.items():
            ratio = state["state_scalars"] / adam
            rows.append((model_name, name, f"{state['params']:,}", f"{state['state_scalars']:,}",
                         f"{state['state_bytes'] / 2**20:.2f}", f"{ratio:.5f}"))
            if name != "adam":
                result[f"{name}_state_ratio_{model_name}"] = round(ratio, 6)
    print(table(["model", "optimizer", "params", "state scalars", "state MiB", "state / adam"], rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
