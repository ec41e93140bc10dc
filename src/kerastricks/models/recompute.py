"""Gradient checkpointing that works under ``model.fit`` on every Keras backend.

``Recompute(segment)`` runs ``segment`` (a layer or a functional sub-model)
forward without keeping its intermediate activations; the backward pass runs
it again to get them (Chen et al. 2016, arXiv 1604.06174). Only the segment's
input is stored, so a network cut into ``m`` segments of ``k`` blocks keeps
``m`` segment inputs plus one segment's activations: with ``k ~ sqrt(n)`` the
activation memory grows like ``sqrt(n)`` instead of ``n``, for one extra
forward pass.

How: the segment runs as a pure function of its input and its variables'
values (``Layer.stateless_call``), wrapped in ``keras.remat`` with positional
arguments only (``tf.recompute_grad`` on TensorFlow, ``jax.checkpoint`` on JAX,
``torch.utils.checkpoint`` on PyTorch). The function returns the updated
non-trainable values (batch-norm moving statistics) instead of assigning them;
they are assigned once, after the forward pass, so the recomputation changes
nothing and the statistics move exactly as without recomputation.

Why not ``keras.RematScope`` around the layers: on TensorFlow it calls
``tf.custom_gradient`` with keyword arguments, which TensorFlow accepts only
eagerly (it fails inside ``model.fit``); on JAX a batch-norm assignment inside
``jax.checkpoint`` leaks a tracer; on PyTorch the recomputation assigns the
moving statistics a second time.

Limits:

- Layers that draw random numbers (``Dropout``, ``GaussianNoise``...) inside a
  segment would draw *different* numbers in the recomputation, giving wrong
  gradients; :class:`Recompute` refuses such segments.
- Activity-regularization losses added inside the segment's ``call`` are not
  collected (weight regularizers are: they are computed from the variables).
"""

from __future__ import annotations

import math
from typing import Any

import keras

RANDOM_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                 "GaussianDropout", "AlphaDropout")


def _random_layers(layer: keras.layers.Layer) -> list[str]:
    found = []
    for sub in [layer, *getattr(layer, "_flatten_layers", lambda: [])()]:
        if type(sub).__name__ in RANDOM_LAYERS and getattr(sub, "rate", 1.0) != 0:
            found.append(sub.name)
    return sorted(set(found))


@keras.saving.register_keras_serializable(package="kerastricks")
class Recompute(keras.layers.Layer):
    """Wrap a layer (or a sub-model) so its activations are recomputed in the backward pass.

    The wrapped segment takes one tensor and returns one tensor. In training
    the forward pass runs under ``keras.remat`` as a pure function (see the
    module notes), on TensorFlow, JAX and PyTorch alike; in inference
    (``training=False``) it is a plain call. Gradients, for the input and for
    every variable inside the segment, and batch-norm moving statistics equal
    those of the plain segment.

    Args:
        layer: The segment: a ``keras.layers.Layer`` or a ``keras.Model``
            with one input and one output, without random layers.
        **kwargs: Base ``Layer`` arguments (``name``...).

    Example:
        >>> block = keras.Sequential([keras.layers.Dense(512, activation="relu")
        ...                           for _ in range(4)])
        >>> x = Recompute(block)(keras.Input((512,)))
    """

    def __init__(self, layer: keras.layers.Layer, **kwargs: Any) -> None:
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"Argument `layer` must be a keras.layers.Layer. Received: layer={layer!r}")
        random = _random_layers(layer)
        if random:
            raise ValueError(
                "Argument `layer` must not contain random layers (their recomputation draws new random "
                f"numbers, so gradients would be wrong). Received: layer={layer.name!r} containing {random}"
            )
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Any) -> None:
        # Create every variable now, outside tf.recompute_grad: variables made
        # inside the recomputed function would not be tracked as its captures.
        if not self.layer.built:
            self.layer(keras.KerasTensor(tuple(input_shape), dtype=self.compute_dtype))
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return self.layer(inputs, training=training)
        trainable = list(self.layer.trainable_variables)
        non_trainable = list(self.layer.non_trainable_variables)
        n = len(trainable)

        def segment(x, *values):  # positional only: tf.recompute_grad rejects keyword arguments in graphs
            # A pure function of its arguments: the forward pass and the recomputation
            # return new statistics instead of assigning them.
            return self.layer.stateless_call(list(values[:n]), list(values[n:]), x, training=True)

        # Statistics go in as copies: PyTorch saves the arguments for the recomputation and
        # refuses them once the assignment below has changed them in place.
        values = [v.value for v in trainable] + [keras.ops.copy(v.value) for v in non_trainable]
        outputs, updated = keras.remat(segment)(inputs, *values)
        for variable, value in zip(non_trainable, updated):
            variable.assign(value)  # once per step, from the forward pass
        return outputs

    def compute_output_spec(self, inputs: Any, training: bool | None = None) -> Any:
        return self.layer.compute_output_spec(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["layer"] = keras.saving.serialize_keras_object(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Recompute:
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)


def default_every(n_blocks: int) -> int:
    """Blocks per recomputed segment when none is given: ``round(sqrt(n))``, at least 1.

    Chen et al. (2016) show that segments of ``sqrt(n)`` blocks minimise
    activation memory (``O(sqrt(n))``) for one extra forward pass.
    """
    return max(1, int(round(math.sqrt(max(1, n_blocks)))))


def resolve_every(every: int | str | None, n_blocks: int) -> int:
    """``every`` as blocks per segment: 0/None means off, ``"auto"`` :func:`default_every`."""
    if every in (None, 0, "none"):
        return 0
    if every == "auto":
        return default_every(n_blocks)
    return int(every)


class SegmentBuilder:
    """Group consecutive blocks of a functional model into :class:`Recompute` segments.

    A builder calls :meth:`block` for every block, with a function that
    builds the block on a tensor. Without recomputation the block is built
    in place; with ``every = k`` the blocks are collected on a fresh
    ``keras.Input`` and every ``k`` of them become one functional sub-model
    wrapped in :class:`Recompute`. Call :meth:`flush` after the last block.

    Args:
        every: Blocks per segment (0 disables recomputation).
        prefix: Name prefix of the segments (``"<prefix>_recompute<i>"``).
    """

    def __init__(self, every: int, prefix: str = "segment") -> None:
        self.every = int(every)
        self.prefix = prefix
        self._pending: list[Any] = []
        self._outer: Any = None
        self.segments = 0

    def block(self, x: Any, fn: Any) -> Any:
        if self.every <= 0:
            return fn(x)
        self._pending.append(fn)
        if len(self._pending) == self.every:
            return self._close(x)
        return x

    def flush(self, x: Any) -> Any:
        return self._close(x) if self._pending else x

    def _close(self, x: Any) -> Any:
        fns, self._pending = self._pending, []
        inner_in = keras.Input(tuple(x.shape[1:]), dtype=x.dtype)
        y = inner_in
        for fn in fns:
            y = fn(y)
        self.segments += 1
        name = f"{self.prefix}_recompute{self.segments}"
        return Recompute(keras.Model(inner_in, y, name=f"{name}_blocks"), name=name)(x)


__all__ = ["Recompute", "SegmentBuilder", "default_every", "resolve_every"]
