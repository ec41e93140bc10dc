"""SM3-II: memory-efficient adaptive optimization (Anil et al. 2019)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def cover_min(accumulators: list, rank: int) -> Any:
    """``min`` over the axis covers: entry ``i`` is ``min_r a_r[i_r]``.

    Args:
        accumulators: One vector per axis; ``accumulators[r]`` has the length
            of axis ``r``.
        rank: The tensor's rank (``len(accumulators)``).

    Returns:
        A tensor of the full shape (broadcast of the per-axis vectors).
    """
    out = None
    for axis, acc in enumerate(accumulators):
        shape = [1] * rank
        shape[axis] = -1
        view = ops.reshape(acc, shape)
        out = view if out is None else ops.minimum(out, view)
    return out


def cover_max(nu: Any, axis: int) -> Any:
    """Max of ``nu`` over every axis but ``axis`` (the new accumulator of that axis)."""
    others = tuple(a for a in range(len(nu.shape)) if a != axis)
    return ops.max(nu, axis=others)


@keras.saving.register_keras_serializable(package="kerastricks")
class SM3(keras.optimizers.Optimizer):
    """SM3-II: Adagrad-like steps with one accumulator per tensor slice.

    For a tensor of rank ``p >= 2`` with gradient ``g`` the cover sets are the
    slices along each axis, so it keeps ``d_1 + ... + d_p`` statistics instead
    of ``d_1 * ... * d_p``. Vectors and scalars get exact Adagrad (a full
    accumulator, the same size as the variable). At each step:

    ```
    nu[i] = min_r a_r[i_r] + g[i]^2
    u     = g / sqrt(nu)              (0 where nu == 0)
    a_r[j] = max over the slice i_r == j of nu[i]
    m     = momentum * m + (1 - momentum) * u   (momentum > 0 only)
    x     = x - learning_rate * (m or u)
    ```

    Args:
        learning_rate: Float or ``LearningRateSchedule``. Default 0.1 (Adagrad-like
            optimizers take larger steps than Adam).
        momentum: In [0, 1). 0 (default) keeps no first moment; a value > 0
            adds a full-size slot per variable, the memory trade-off the paper
            accepts for its experiments.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps, name: Keras's base optimizer
            arguments, handled by Keras (see ``keras.optimizers.Optimizer``).

    Example:

    >>> opt = SM3(learning_rate=0.1)
    >>> model.compile(optimizer=opt, loss="mse")  # doctest: +SKIP

    Note:
        No epsilon is added, as in the paper: a coordinate whose gradient has
        always been 0 is not moved. Momentum is the exponential average
        ``m = beta m + (1 - beta) u`` of the reference implementation
        (google-research/google-research, ``sm3/sm3.py``).

    Reference:
        Anil, Gupta, Koren & Singer, 2019, "Memory-Efficient Adaptive
        Optimization", arXiv:1901.11150 (Algorithm SM3-II).
    """

    def __init__(
        self,
        learning_rate: Any = 0.1,
        momentum: float = 0.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "sm3",
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"Argument `momentum` must be in [0, 1). Received: momentum={momentum}")
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.momentum = momentum

    def build(self, var_list: list) -> None:
        """Create one accumulator per axis (rank >= 2) or a full one (rank <= 1)."""
        if self.built:
            return
        super().build(var_list)
        self._accumulators: list = []
        self._momenta: list = []
        for var in var_list:
            shape = tuple(var.shape)
            base = var.path.replace("/", "_")
            if len(shape) >= 2:
                accs = [self.add_variable(shape=(dim,), dtype=var.dtype, name=f"{base}_axis{axis}")
                        for axis, dim in enumerate(shape)]
            else:
                accs = [self.add_variable_from_reference(var, name="accumulator")]
            self._accumulators.append(accs)
            self._momenta.append(self.add_variable_from_reference(var, name="momentum") if self.momentum > 0 else None)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        grad = ops.cast(gradient, dtype)
        lr = ops.cast(learning_rate, dtype)
        accs = self._accumulators[index]
        rank = len(variable.shape)
        if rank >= 2:
            nu = cover_min(accs, rank) + ops.square(grad)
            for axis, acc in enumerate(accs):
                self.assign(acc, cover_max(nu, axis))
        else:
            nu = accs[0] + ops.square(grad)
            self.assign(accs[0], nu)
        positive = ops.greater(nu, 0.0)
        update = ops.where(positive, grad * ops.rsqrt(ops.where(positive, nu, ops.ones_like(nu))), 0.0)
        momentum = self._momenta[index]
        if momentum is not None:
            self.assign(momentum, self.momentum * momentum + (1.0 - self.momentum) * update)
            update = momentum
        self.assign_sub(variable, lr * update)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["momentum"] = self.momentum
        return config


__all__ = ["SM3", "cover_max", "cover_min"]
