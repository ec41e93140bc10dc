"""Names Keras accepts for activations and initializers, known without importing Keras.

Recipes are validated before Keras is imported, so the names a ``[model]``
section may use are listed here; ``tests/models/test_names.py`` checks that
Keras builds every one of them (Keras 3.15). A name Keras adds later is still
accepted when the model is built: validation falls back to Keras when a name is
not listed here and Keras is already imported.
"""

#: ``"threshold"`` is left out: it needs ``threshold`` and ``default_value`` arguments, so a layer that calls it
#: by name fails at its first call.
ACTIVATIONS: tuple[str, ...] = (
    "celu",
    "elu",
    "exponential",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
)

#: ``"constant"`` is left out: ``keras.initializers.get("constant")`` raises ``KeyError`` in Keras 3.15
#: (``Constant.from_config`` needs its ``value``), so a model asking for it by name could not be built.
INITIALIZERS: tuple[str, ...] = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "stft",
    "truncated_normal",
    "variance_scaling",
    "zeros",
)
