"""Adafactor with a factored (sublinear) second moment (Shazeer & Stern 2018)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def factored_dims(shape: tuple[int, ...], min_dim_size_to_factor: int) -> bool:
    """Whether a variable of ``shape`` gets a factored second moment.

    A tensor of rank >= 2 is factored over its last two dimensions when both
    are at least ``min_dim_size_to_factor``; the leading dimensions (conv taps)
    stay in both factors.

    Args:
        shape: The variable's shape.
        min_dim_size_to_factor: Smallest size of each of the last two dimensions.

    Returns:
        ``True`` if the row/column statistics replace the full accumulator.
    """
    return len(shape) >= 2 and shape[-2] >= min_dim_size_to_factor and shape[-1] >= min_dim_size_to_factor


def rms(x: Any) -> Any:
    """Root mean square of all entries of ``x``."""
    return ops.sqrt(ops.mean(ops.square(x)))


def factored_second_moment(row: Any, col: Any) -> Any:
    """The rank-1 estimate ``V = R C / mean(R)`` from row and column means.

    With ``row`` the mean of ``g^2`` over the last axis (shape ``(..., n)``)
    and ``col`` the mean over the second-to-last axis (shape ``(..., m)``),
    this is the paper's ``R C / (1^T R)`` written with sums (Algorithm 4,
    line 7): the ``1/m`` and ``1/n`` factors cancel.
    """
    row_mean = ops.mean(row, axis=-1, keepdims=True)
    return ops.expand_dims(row / row_mean, -1) * ops.expand_dims(col, -2)


@keras.saving.register_keras_serializable(package="kerastricks")
class Adafactor(keras.optimizers.Optimizer):
    """Adafactor with a factored second moment: memory sublinear in the parameters.

    For a variable ``x`` with gradient ``g`` at step ``t`` (counted from 1):

    ```
    beta2_t = 1 - t ** (-decay_rate)
    if factored (last two dims both >= min_dim_size_to_factor):
        R = beta2_t * R + (1 - beta2_t) * mean(g^2 + epsilon_1, axis=-1)
        C = beta2_t * C + (1 - beta2_t) * mean(g^2 + epsilon_1, axis=-2)
        V = R C / mean(R)               # outer product over the last two dims
    else:
        V = beta2_t * V + (1 - beta2_t) * (g^2 + epsilon_1)
    U = g / sqrt(V)
    U = U / max(1, RMS(U) / clip_threshold)
    rho_t = min(1e-2, 1 / sqrt(t))      # relative_step, learning_rate=None (paper)
          = min(1e-6 * t, 1 / sqrt(t))  # ... with warmup_init
          = min(learning_rate(t), 1 / sqrt(t))  # relative_step with a learning rate (Keras's rule)
          = learning_rate(t)            # relative_step=False
    alpha_t = max(epsilon_2, RMS(x)) * rho_t   # multiply_by_parameter_scale, else rho_t
    m = beta_1 * m + (1 - beta_1) * U   # only when beta_1 is set
    x = x - alpha_t * (m or U)
    ```

    An ``n x m`` kernel keeps ``n + m`` statistics instead of ``n * m``; with
    the default ``beta_1=None`` there is no first moment, so the optimizer's
    state is a small fraction of the parameter count (Keras's own
    ``keras.optimizers.Adafactor`` keeps a full-size slot per variable).
    Statistics are kept in the variable's dtype (float32 under the mixed
    precision policies, which keep float32 variables).

    Args:
        learning_rate: ``None`` (default) for the paper's relative step size
            ``min(1e-2, 1/sqrt(t))``; a float or ``LearningRateSchedule``
            replaces the ``1e-2`` cap (``relative_step=True``) or is the step
            size itself (``relative_step=False``).
        beta_1: ``None`` (no first moment, the memory-saving default) or the
            momentum in [0, 1), which adds a full-size slot per variable.
        decay_rate: ``c`` in ``beta2_t = 1 - t^-c``; in (0, 1]. Default 0.8.
        epsilon_1: Added to ``g^2`` before averaging (> 0). Default 1e-30.
        epsilon_2: Floor of the parameter scale ``RMS(x)`` (>= 0). Default 1e-3.
        clip_threshold: ``d`` of the update clipping (> 0). Default 1.0.
        multiply_by_parameter_scale: Scale the step by ``max(epsilon_2, RMS(x))``.
        min_dim_size_to_factor: Factor only when both of the last two
            dimensions are at least this large (>= 1). Default 128.
        relative_step: Cap the step size by ``1/sqrt(t)``.
        warmup_init: With ``relative_step`` and no learning rate,
            ``rho_t = min(1e-6 t, 1/sqrt(t))``.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
            ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps, name: Keras's base optimizer
            arguments, handled by Keras (see ``keras.optimizers.Optimizer``).

    Example:

    >>> opt = Adafactor()                       # the paper's relative step size
    >>> opt = Adafactor(learning_rate=0.01, relative_step=False,
    ...                 multiply_by_parameter_scale=False)

    Note:
        The paper's Algorithm 4 writes ``R`` and ``C`` as row and column sums;
        we keep means, which gives the same ``V`` (the ``1/n``, ``1/m``
        factors cancel in ``R C / (1^T R)``) and stays in range for large
        kernels. A learning rate given with ``relative_step=True`` caps the
        step size as in ``keras.optimizers.Adafactor`` (the paper's rule is
        that with a cap of 1e-2), so recipes, which always carry a learning
        rate or schedule, can use the relative step. The step counter is
        Keras's ``iterations`` (updates, so ``gradient_accumulation_steps``
        is respected).

    Reference:
        Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with
        Sublinear Memory Cost", arXiv:1804.04235 (Algorithms 4 and 5,
        sections 5-8).
    """

    def __init__(
        self,
        learning_rate: Any = None,
        beta_1: float | None = None,
        decay_rate: float = 0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        multiply_by_parameter_scale: bool = True,
        min_dim_size_to_factor: int = 128,
        relative_step: bool = True,
        warmup_init: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adafactor",
        **kwargs: Any,
    ) -> None:
        if not relative_step and learning_rate is None:
            raise ValueError("Argument `learning_rate` is required when `relative_step=False`. "
                             "Received: learning_rate=None")
        if warmup_init and (not relative_step or learning_rate is not None):
            raise ValueError("Argument `warmup_init` needs `relative_step=True` and `learning_rate=None`. "
                             f"Received: relative_step={relative_step}, learning_rate={learning_rate}")
        if beta_1 is not None and not 0.0 <= beta_1 < 1.0:
            raise ValueError(f"Argument `beta_1` must be None or in [0, 1). Received: beta_1={beta_1}")
        if not 0.0 < decay_rate <= 1.0:
            raise ValueError(f"Argument `decay_rate` must be in (0, 1]. Received: decay_rate={decay_rate}")
        if not epsilon_1 > 0:
            raise ValueError(f"Argument `epsilon_1` must be > 0. Received: epsilon_1={epsilon_1}")
        if not epsilon_2 >= 0:
            raise ValueError(f"Argument `epsilon_2` must be >= 0. Received: epsilon_2={epsilon_2}")
        if not clip_threshold > 0:
            raise ValueError(f"Argument `clip_threshold` must be > 0. Received: clip_threshold={clip_threshold}")
        if not (isinstance(min_dim_size_to_factor, int) and min_dim_size_to_factor >= 1):
            raise ValueError("Argument `min_dim_size_to_factor` must be an integer >= 1. "
                             f"Received: min_dim_size_to_factor={min_dim_size_to_factor}")
        # The base class needs a learning rate; without one the relative step never reads it.
        super().__init__(
            learning_rate=1.0 if learning_rate is None else learning_rate,
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
        self.beta_1 = beta_1
        self.decay_rate = decay_rate
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.multiply_by_parameter_scale = multiply_by_parameter_scale
        self.min_dim_size_to_factor = min_dim_size_to_factor
        self.relative_step = relative_step
        self.warmup_init = warmup_init
        self._paper_step = learning_rate is None

    def build(self, var_list: list) -> None:
        """Create the row/column statistics (factored), full accumulators and momenta."""
        if self.built:
            return
        super().build(var_list)
        self._rows: list = []
        self._cols: list = []
        self._full: list = []
        self._momenta: list = []
        for var in var_list:
            shape = tuple(var.shape)
            base = var.path.replace("/", "_")
            if factored_dims(shape, self.min_dim_size_to_factor):
                self._rows.append(self.add_variable(shape=shape[:-1], dtype=var.dtype, name=f"{base}_row"))
                self._cols.append(self.add_variable(shape=shape[:-2] + shape[-1:], dtype=var.dtype,
                                                    name=f"{base}_col"))
                self._full.append(None)
            else:
                self._rows.append(None)
                self._cols.append(None)
                self._full.append(self.add_variable_from_reference(var, name="second_moment"))
            self._momenta.append(
                None if self.beta_1 is None else self.add_variable_from_reference(var, name="momentum")
            )

    def step_size(self, step: Any, learning_rate: Any) -> Any:
        """``rho_t`` at 1-based step ``step`` (a float tensor)."""
        if not self.relative_step:
            return learning_rate
        if self._paper_step:
            cap = 1e-6 * step if self.warmup_init else 1e-2
        else:
            cap = learning_rate
        return ops.minimum(cap, 1.0 / ops.sqrt(step))

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        grad = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta2 = 1.0 - ops.power(step, -self.decay_rate)
        sq = ops.square(grad) + self.epsilon_1
        row, col, full = self._rows[index], self._cols[index], self._full[index]
        if full is None:
            self.assign(row, beta2 * row + (1.0 - beta2) * ops.mean(sq, axis=-1))
            self.assign(col, beta2 * col + (1.0 - beta2) * ops.mean(sq, axis=-2))
            second = factored_second_moment(row, col)
        else:
            self.assign(full, beta2 * full + (1.0 - beta2) * sq)
            second = full
        update = grad * ops.rsqrt(second)
        update = update / ops.maximum(1.0, rms(update) / self.clip_threshold)
        alpha = self.step_size(step, ops.cast(learning_rate, dtype))
        if self.multiply_by_parameter_scale:
            alpha = ops.maximum(self.epsilon_2, rms(variable)) * alpha
        momentum = self._momenta[index]
        if momentum is not None:
            self.assign(momentum, self.beta_1 * momentum + (1.0 - self.beta_1) * update)
            update = momentum
        self.assign_sub(variable, alpha * update)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._paper_step:
            config["learning_rate"] = None
        config.update(
            {
                "beta_1": self.beta_1,
                "decay_rate": self.decay_rate,
                "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold,
                "multiply_by_parameter_scale": self.multiply_by_parameter_scale,
                "min_dim_size_to_factor": self.min_dim_size_to_factor,
                "relative_step": self.relative_step,
                "warmup_init": self.warmup_init,
            }
        )
        return config


__all__ = ["Adafactor", "factored_dims", "factored_second_moment", "rms"]
