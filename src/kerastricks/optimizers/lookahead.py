"""Lookahead (Zhang et al. 2019), as a wrapper around any Keras optimizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerastricks.optimizers.agc import WrapsInnerOptimizer


def lookahead_sync(fast: Any, slow: Any, slow_step_size: float, sync: Any) -> tuple[Any, Any]:
    """One Lookahead synchronization, applied where ``sync`` is true.

    ``slow <- slow + alpha * (fast - slow)`` and ``fast <- slow`` (the new
    slow weights); where ``sync`` is false both are returned unchanged.

    Args:
        fast: The weights the inner optimizer updates.
        slow: The slow weights.
        slow_step_size: ``alpha`` in (0, 1].
        sync: A boolean scalar tensor.

    Returns:
        ``(new_fast, new_slow)``.
    """
    stepped = slow + ops.cast(slow_step_size, slow.dtype) * (fast - slow)
    new_slow = ops.where(sync, stepped, slow)
    return ops.where(sync, ops.cast(new_slow, fast.dtype), fast), new_slow


def assign_all(updates: list[tuple[Any, Any]]) -> None:
    """Assign each ``(variable, value)``; inside a multi-replica ``tf.distribute`` step, on every replica's copy.

    Mirrored variables cannot be assigned from a replica context; the values
    (equal on every replica: they come from mirrored weights and reduced
    gradients) are handed to the cross-replica context, as Keras's own
    optimizers do for their updates.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            variables = [v for v, _ in updates]

            def merged(strategy, *values):
                for variable, value in zip(variables, values):
                    strategy.extended.update(variable.value, lambda v, x: v.assign(x), args=(value,), group=False)

            ctx.merge_call(merged, args=tuple(value for _, value in updates))
            return
    for variable, value in updates:
        variable.assign(value)


@keras.saving.register_keras_serializable(package="kerastricks")
class Lookahead(WrapsInnerOptimizer, keras.optimizers.Optimizer):
    """Wrap an optimizer so that every ``k`` of its steps the weights step back toward slow weights.

    The wrapped ("inner") optimizer updates the ("fast") weights as usual. It
    keeps one slow copy ``phi`` of every trainable variable; after every
    ``k``-th inner step:

    ```
    phi <- phi + alpha * (theta - phi)     # slow weights: a step of size alpha toward the fast ones
    theta <- phi                           # the fast weights restart from there
    ```

    The inner optimizer's state (moments, step counter) is kept across
    synchronizations, as in the paper's experiments. The slow weights are set to
    the weights at the first step (``iterations == 0``). The wrapper's own state is
    the slow weights, in its ``variables`` after the inner optimizer's, so
    checkpoints and ``.keras`` files carry it; ``iterations`` and
    ``learning_rate`` are the inner optimizer's, so schedules, clipping,
    weight decay, EMA and gradient accumulation stay where Keras keeps them.
    The synchronization is computed in the training step from
    ``iterations`` (``iterations % k == 0``), on every backend. With gradient
    accumulation ``k`` counts optimizer updates, not micro-batches.

    The model keeps the fast weights at the end of training (the paper
    evaluates those; at a synchronization step they equal the slow ones).

    Args:
        optimizer: The ``keras.optimizers.Optimizer`` to wrap (Keras's or kerastricks's).
        sync_period: ``k``, inner steps between synchronizations (>= 1). Default 6
            (the paper uses 5 or 10 in most experiments).
        slow_step_size: ``alpha`` in (0, 1]. Default 0.5 (the paper's value in
            most experiments). ``alpha = 1`` gives the inner optimizer back.
        name: The optimizer's name.

    Example:

    >>> opt = Lookahead(keras.optimizers.AdamW(1e-3), sync_period=6, slow_step_size=0.5)

    Reference:
        Zhang, Lucas, Hinton & Ba, 2019, "Lookahead Optimizer: k steps forward,
        1 step back", arXiv:1907.08610 (Algorithm 1).
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer, sync_period: int = 6, slow_step_size: float = 0.5,
                 name: str | None = None, **kwargs: Any) -> None:
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError("Argument `optimizer` must be a `keras.optimizers.Optimizer` instance. "
                            f"Received: optimizer={optimizer!r}")
        if isinstance(sync_period, bool) or not isinstance(sync_period, int) or sync_period < 1:
            raise ValueError(f"Argument `sync_period` must be an integer >= 1. Received: sync_period={sync_period}")
        if not 0 < slow_step_size <= 1:
            raise ValueError(f"Argument `slow_step_size` must be in (0, 1]. Received: slow_step_size={slow_step_size}")
        if kwargs:
            raise ValueError(f"Lookahead does not take `{'`, `'.join(kwargs)}`: set them on the wrapped optimizer.")
        super().__init__(learning_rate=0.0, name=name or f"lookahead_{optimizer.name}")
        self.inner_optimizer = optimizer
        self.sync_period = int(sync_period)
        self.slow_step_size = float(slow_step_size)
        self._slow: list = []

    # ---- state: the inner optimizer's, then the slow weights -------------------------
    def build(self, var_list: list) -> None:
        """Build the inner optimizer and one slow copy of every variable (set to the weights at the first step)."""
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        super().build(var_list)
        self._slow = [self.add_variable_from_reference(variable, name="slow") for variable in var_list]

    @property
    def variables(self) -> list:
        return self.inner_optimizer.variables + list(self._slow)

    @property
    def slow_weights(self) -> list:
        """The slow weights, in the order of the variables the optimizer was built on."""
        return list(self._slow)

    # ---- the update ------------------------------------------------------------------
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
        grads = list(grads)
        pairs = [(variable, self._slow[self._get_variable_index(variable)])
                 for grad, variable in zip(grads, variables) if grad is not None]
        # The slow weights start as the weights before the first step (read here, before the inner update);
        # done in the step rather than in build, which Keras may run where assignments do not stick.
        first = ops.equal(self.inner_optimizer.iterations, 0)
        slow_before = [ops.where(first, ops.cast(variable.value, slow.dtype), slow.value) for variable, slow in pairs]
        self.inner_optimizer.apply(grads, trainable_variables)
        sync = ops.equal(ops.mod(self.inner_optimizer.iterations, self.sync_period), 0)
        updates = []
        for (variable, slow), slow_value in zip(pairs, slow_before):
            new_fast, new_slow = lookahead_sync(variable.value, slow_value, self.slow_step_size, sync)
            updates += [(slow, new_slow), (variable, new_fast)]
        assign_all(updates)

    # stateless_apply: Keras's own (maps self.variables and the trainable variables, then calls apply)

    # ---- serialization ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "sync_period": self.sync_period,
            "slow_step_size": self.slow_step_size,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Lookahead:
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(config.pop("optimizer"), custom_objects=custom_objects)
        return cls(optimizer, **config)


__all__ = ["Lookahead", "assign_all", "lookahead_sync"]
