"""Optimizer state against Adam's, on a 3x1024 MLP and on a Transformer-style block.

State is counted from each optimizer's variables after ``build`` (the step
counter and learning rate are left out, see ``kerastricks.memory``); the
figure is ``state scalars / Adam's state scalars``. Counting needs no timing,
so every optimizer is measured in this one process.

    python benchmarks/optimizer_memory.py [--quick]

Last line: JSON ``{"<optimizer>_state_ratio_<model>": ..., ...}`` for adafactor,
sm3, keras_adafactor, sgd_momentum (and adafactor_momentum / sm3_momentum, the
variants with a first moment).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402


def mlp_3x1024():
    import keras

    inputs = keras.Input((1024,))
    h = inputs
    for i in range(3):
        h = keras.layers.Dense(1024, activation="relu", name=f"dense_{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(h), name="mlp_3x1024")


def transformer_block(d_model: int = 512, heads: int = 8, ff: int = 2048, seq: int = 128):
    """One pre-norm encoder block: multi-head self-attention and a feed-forward layer."""
    import keras

    inputs = keras.Input((seq, d_model))
    h = keras.layers.LayerNormalization(name="ln_1")(inputs)
    h = keras.layers.MultiHeadAttention(heads, d_model // heads, name="attention")(h, h)
    x = keras.layers.Add()([inputs, h])
    h = keras.layers.LayerNormalization(name="ln_2")(x)
    h = keras.layers.Dense(ff, activation="gelu", name="ff_in")(h)
    h = keras.layers.Dense(d_model, name="ff_out")(h)
    return keras.Model(inputs, keras.layers.Add()([x, h]), name="transformer_block")


def optimizers():
    import keras

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

    models = {"mlp": mlp_3x1024(), "transformer": transformer_block()}
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
