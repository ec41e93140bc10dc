"""Adaptive gradient clipping (Brock et al. 2021), as a wrapper around any Keras optimizer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

#: Floor of the gradient norm in the clipping factor (the paper's code uses 1e-6).
GRAD_NORM_FLOOR = 1e-6


def unitwise_norm(x: Any) -> Any:
    """L2 norm per output unit, broadcastable to ``x``.

    In Keras layouts the output unit is the last axis: a Dense kernel
    ``(in, out)`` is reduced over axis 0, a ConvND kernel over every axis but
    the last. Vectors and scalars (biases, norm scales) are one unit.

    Args:
        x: A tensor.

    Returns:
        The norms, with ``keepdims`` so that they broadcast against ``x``.
    """
    rank = len(x.shape)
    if rank <= 1:
        return ops.sqrt(ops.sum(ops.square(x)))
    return ops.sqrt(ops.sum(ops.square(x), axis=tuple(range(rank - 1)), keepdims=True))


def unitwise_clip(grad: Any, param: Any, clipping: float = 0.01, eps: float = 1e-3) -> Any:
    """Clip ``grad`` unit-wise relative to the norm of ``param`` (NFNets' AGC).

    ``G_i <- G_i * clipping * max(||W_i||, eps) / max(||G_i||, 1e-6)`` where
    ``||G_i|| > clipping * max(||W_i||, eps)``; other units are unchanged.
    Norms are computed in float32 and the result has ``grad``'s dtype.

    Args:
        grad: The gradient.
        param: The parameter it belongs to (same shape).
        clipping: ``lambda``, the largest allowed ratio ``||G_i|| / ||W_i||`` (> 0).
        eps: Floor of the parameter norm, so zero-initialized units can move (> 0).

    Returns:
        The clipped gradient.
    """
    g = ops.cast(grad, "float32")
    w = ops.cast(param, "float32")
    max_norm = clipping * ops.maximum(unitwise_norm(w), eps)
    g_norm = unitwise_norm(g)
    # one factor per unit (exactly 1 where the unit is within the bound), one full-size multiply
    factor = ops.where(g_norm > max_norm, max_norm / ops.maximum(g_norm, GRAD_NORM_FLOOR), 1.0)
    return ops.cast(g * factor, grad.dtype)


def _reduce_across_replicas(grads: list) -> tuple[list, int]:
    """Sum ``grads`` over the replicas of a ``tf.distribute`` strategy, if any.

    Returns the reduced gradients and the number of replicas (1 outside a
    multi-replica strategy, where nothing is done).
    """
    if keras.backend.backend() != "tensorflow":
        return grads, 1
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        return grads, 1
    present = [i for i, g in enumerate(grads) if g is not None]
    reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
    out = list(grads)
    for i, g in zip(present, reduced):
        out[i] = g
    return out, ctx.num_replicas_in_sync


class WrapsInnerOptimizer:
    """What an optimizer that wraps ``self.inner_optimizer`` hands on to it: the step counter, the
    learning rate, loss scaling and the final variable values (shared by AGC and Lookahead)."""

    @property
    def iterations(self) -> Any:
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    def scale_loss(self, loss: Any) -> Any:
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list: list) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)


@keras.saving.register_keras_serializable(package="kerastricks")
class AdaptiveGradientClipping(WrapsInnerOptimizer, keras.optimizers.Optimizer):
    """Wrap an optimizer so that every gradient is clipped unit-wise first (AGC).

    For each unit ``i`` (output unit, see :func:`unitwise_norm`) of a
    parameter ``W`` with gradient ``G``:

    ```
    if ||G_i|| > clipping * max(||W_i||, eps):
        G_i = G_i * clipping * max(||W_i||, eps) / max(||G_i||, 1e-6)
    ```

    then the clipped gradients go to the wrapped optimizer, which keeps its
    own state, step counter, learning rate, clipping, weight decay, EMA and
    gradient accumulation. The wrapper holds no variables of its own:
    ``variables``, ``iterations`` and ``learning_rate`` are the wrapped
    optimizer's, so checkpoints and ``.keras`` files carry its state.

    Mixed precision: ``LossScaleOptimizer(AdaptiveGradientClipping(opt))`` (what
    ``model.compile`` builds under ``mixed_float16``) clips unscaled gradients;
    ``AdaptiveGradientClipping(LossScaleOptimizer(opt))`` also works: the
    loss scale is divided out before clipping and multiplied back after.
    Under a ``tf.distribute`` strategy the gradients are summed across
    replicas before clipping (clipping is not additive), then handed on so
    that the wrapped optimizer's own sum gives back the clipped gradient.

    Args:
        optimizer: The ``keras.optimizers.Optimizer`` to wrap.
        clipping: ``lambda`` (> 0). The NFNets paper uses 0.01 for batch size
            4096 and larger values for smaller batches (their Figure 3).
        eps: Floor of the parameter norm (> 0). Default 1e-3.
        exclude: Regular expressions matched (``re.search``) against variable
            paths (``"logits/kernel"``); matching variables are not clipped.
            NFNets leave the final classifier unclipped. The match is made
            once, when the optimizer is built on its variables, and kept by
            position: inside a compiled JAX step the variables are plain
            arrays without paths.
        name: The optimizer's name.

    Example:

    >>> opt = AdaptiveGradientClipping(keras.optimizers.SGD(0.1, momentum=0.9),
    ...                                clipping=0.01, exclude=["^logits/"])

    Reference:
        Brock, De, Smith & Simonyan, 2021, "High-Performance Large-Scale Image
        Recognition Without Normalization", arXiv:2102.06171 (section 4.1).
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer, clipping: float = 0.01, eps: float = 1e-3,
                 exclude: Sequence[str] = (), name: str | None = None, **kwargs: Any) -> None:
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError("Argument `optimizer` must be a `keras.optimizers.Optimizer` instance. "
                            f"Received: optimizer={optimizer!r}")
        if not clipping > 0:
            raise ValueError(f"Argument `clipping` must be > 0. Received: clipping={clipping}")
        if not eps > 0:
            raise ValueError(f"Argument `eps` must be > 0. Received: eps={eps}")
        if isinstance(exclude, str):
            exclude = [exclude]
        exclude = list(exclude)
        for pattern in exclude:
            try:
                re.compile(pattern)
            except (re.error, TypeError):
                raise ValueError("Argument `exclude` must be a list of regular expressions. "
                                 f"Received: exclude={exclude}") from None
        if kwargs:
            raise ValueError(
                f"AdaptiveGradientClipping does not take `{'`, `'.join(kwargs)}`: set them on the wrapped "
                "optimizer."
            )
        super().__init__(learning_rate=0.0, name=name or f"agc_{optimizer.name}")
        self.inner_optimizer = optimizer
        self.clipping = clipping
        self.eps = eps
        self.exclude = exclude

    # ---- the wrapped optimizer's state is the state ------------------------------
    def build(self, var_list: list) -> None:
        """Build the wrapped optimizer on ``var_list``."""
        self.inner_optimizer.build(var_list)
        super().build(var_list)
        # Decided here, on real variables: a compiled JAX step hands stateless_apply plain arrays.
        self._clip_mask = [self.is_clipped(v) for v in var_list]

    @property
    def variables(self) -> list:
        return self.inner_optimizer.variables

    # ---- clipping -----------------------------------------------------------------
    def is_clipped(self, variable: Any) -> bool:
        """Whether ``variable`` is clipped (its path matches no ``exclude`` pattern)."""
        path = getattr(variable, "path", None) or getattr(variable, "name", "")
        return not any(re.search(pattern, path) for pattern in self.exclude)

    def _loss_scale(self) -> Any:
        inner = self.inner_optimizer
        if isinstance(inner, keras.optimizers.LossScaleOptimizer):
            return inner.dynamic_scale if inner.built else inner.initial_scale
        return inner.loss_scale_factor

    def _clip_flags(self, variables: Sequence[Any]) -> list[bool]:
        mask = getattr(self, "_clip_mask", None)
        if mask is not None and len(mask) == len(variables):
            return list(mask)
        return [self.is_clipped(v) for v in variables]

    def clip_gradients(self, grads: Sequence[Any], variables: Sequence[Any]) -> list:
        """The gradients after AGC (``None`` stays ``None``; excluded variables pass through)."""
        scale = self._loss_scale()
        out = []
        for g, v, clipped in zip(grads, variables, self._clip_flags(variables)):
            if g is None or not clipped:
                out.append(g)
            elif scale is None:
                out.append(unitwise_clip(g, v, self.clipping, self.eps))
            else:
                out.append(unitwise_clip(g / scale, v, self.clipping, self.eps) * scale)
        return out

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None) -> None:
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be "
                                 "built. Call `optimizer.build(trainable_variables)` first.")
            variables = self._trainable_variables
        else:
            variables = list(trainable_variables)
            if not self.built:
                self.build(variables)
        grads, replicas = _reduce_across_replicas(list(grads))
        clipped = self.clip_gradients(grads, variables)
        if replicas > 1:
            # The wrapped optimizer sums over replicas again: hand each replica its share.
            clipped = [None if g is None else g / replicas for g in clipped]
        self.inner_optimizer.apply(clipped, trainable_variables)

    def stateless_apply(self, optimizer_variables: list, grads: list, trainable_variables: list) -> tuple:
        clipped = self.clip_gradients(grads, trainable_variables)
        return self.inner_optimizer.stateless_apply(optimizer_variables, clipped, trainable_variables)

    # ---- serialization ------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "clipping": self.clipping,
            "eps": self.eps,
            "exclude": list(self.exclude),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> AdaptiveGradientClipping:
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(config.pop("optimizer"), custom_objects=custom_objects)
        return cls(optimizer, **config)


#: Short alias.
AGC = AdaptiveGradientClipping

__all__ = ["AGC", "AdaptiveGradientClipping", "unitwise_clip", "unitwise_norm"]
