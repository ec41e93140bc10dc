"""Extended Batch Normalization (Luo et al. 2020, arXiv 2003.05569)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _distributed_replicas() -> int:
    """Replicas in sync when called inside a TensorFlow distribution strategy, else 1."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return 1
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else int(ctx.num_replicas_in_sync)


@keras.saving.register_keras_serializable(package="kerastricks")
class ExtendedBatchNormalization(keras.layers.Layer):
    """Batch normalization with one standard deviation shared by all channels.

    In training, for inputs ``x`` with channels on ``axis``::

        mu_c    = mean of x[..., c] over the batch and spatial axes      (per channel, as in BN)
        sigma^2 = mean over batch, spatial AND channel axes of (x - mu_c)^2   (one scalar per layer)
        y       = gamma_c * (x - mu_c) / sqrt(sigma^2 + epsilon) + beta_c

    ``sigma^2`` is the average of the per-channel batch variances. Pooling the
    variance over channels makes it far less noisy at small batch sizes, where
    BN's per-channel estimates degrade. Moving averages of ``mu_c`` and
    ``sigma^2`` (``moving <- momentum * moving + (1 - momentum) * batch``) are
    used at inference, as in Keras's ``BatchNormalization``.

    Statistics are computed in float32 under mixed precision. Inside a
    ``tf.distribute`` strategy with several replicas (TensorFlow backend) the
    batch statistics are all-reduced across replicas (``keras.ops.moments(...,
    synchronized=True)``), so every replica normalizes with the global batch's
    statistics and the moving averages agree; on other backends or without a
    strategy they are local.

    Args:
        axis: The channel axis. Default -1 (channels last).
        momentum: Moving-average momentum in [0, 1). Default 0.99.
        epsilon: Added to the variance, > 0. Default 1e-3.
        center: Learn the shift ``beta``. Default True.
        scale: Learn the scale ``gamma``. Default True.
        beta_initializer: Default ``"zeros"``.
        gamma_initializer: Default ``"ones"``.
        moving_mean_initializer: Default ``"zeros"``.
        moving_variance_initializer: Default ``"ones"``.
        beta_regularizer: Optional regularizer for ``beta``.
        gamma_regularizer: Optional regularizer for ``gamma``.
        **kwargs: Base ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Example:
        >>> x = keras.layers.Conv2D(16, 3, use_bias=False)(inputs)
        >>> x = ExtendedBatchNormalization()(x)

    Reference:
        Luo, Peng, Huang, Wu & Zhang, 2020. "Extended Batch Normalization",
        arXiv 2003.05569.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"Argument `axis` must be an integer. Received: axis={axis!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"Argument `momentum` must be in [0, 1). Received: momentum={momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"Argument `epsilon` must be > 0. Received: epsilon={epsilon!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"Argument `axis` must name a non-batch axis of the input. Received: axis={self.axis}, "
                f"input_shape={tuple(input_shape)}"
            )
        self._axis = self.axis % rank
        channels = input_shape[self._axis]
        if channels is None:
            raise ValueError(f"The channel axis {self.axis} must have a known size. Received: {tuple(input_shape)}")
        self._reduction_axes = [i for i in range(rank) if i != self._axis]
        self._broadcast = [1] * rank
        self._broadcast[self._axis] = int(channels)
        shape = (int(channels),)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, trainable=True, autocast=False)
        if self.center:
            self.beta = self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, trainable=True, autocast=False)
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean", initializer=self.moving_mean_initializer,
                                           trainable=False, autocast=False)
        self.moving_variance = self.add_weight(shape=(), name="moving_variance",
                                               initializer=self.moving_variance_initializer,
                                               trainable=False, autocast=False)

    def batch_statistics(self, x: Any) -> tuple[Any, Any]:
        """Per-channel mean and the shared variance of ``x`` (float32), synchronized across replicas."""
        x = ops.cast(x, "float32")
        mean, variance = ops.moments(x, self._reduction_axes, synchronized=_distributed_replicas() > 1)
        return mean, ops.mean(variance)

    def call(self, inputs, training=None, mask=None):
        x = ops.cast(inputs, "float32")
        if training:
            mean, variance = self.batch_statistics(x)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        y = (x - ops.reshape(mean, self._broadcast)) * ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            y = y * ops.reshape(self.gamma, self._broadcast)
        if self.beta is not None:
            y = y + ops.reshape(self.beta, self._broadcast)
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        ser = keras.initializers.serialize
        config.update(
            {
                "axis": self.axis,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": ser(self.beta_initializer),
                "gamma_initializer": ser(self.gamma_initializer),
                "moving_mean_initializer": ser(self.moving_mean_initializer),
                "moving_variance_initializer": ser(self.moving_variance_initializer),
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            }
        )
        return config
