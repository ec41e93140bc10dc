"""Class-aware re-sampling of a training set, as a ``tf.data`` stage.

Every epoch draws ``N`` examples (the training-set size, so the number of
steps per epoch does not change) with replacement: first a class ``c`` with
probability ``p_c``, then an example of that class uniformly. With ``n_c``
training examples of class ``c`` and ``q`` the sampling exponent
(Kang et al. 2019, "Decoupling Representation and Classifier", eq. 1):

    p_c = n_c ** q / sum_k n_k ** q

- ``"instance"`` (q = 1): every example equally likely (the usual sampling);
- ``"class"`` (q = 0): every class equally likely;
- ``"sqrt"`` (q = 1/2): square-root sampling (Mahajan et al. 2018);
- ``"progressive"``: ``p_c(t) = (1 - t/T) p_c^instance + (t/T) p_c^class``,
  from instance-balanced at the first epoch to class-balanced at the last
  (``t`` the 0-based epoch, ``T = epochs - 1``).

The draw of epoch ``t`` is a pure function of ``(seed, t)`` (stateless
random ops), so a resumed run sees the same batches as an uninterrupted one.
:class:`ClassResampler` is a ``keras.callbacks.Callback`` that holds the
epoch counter the pipeline reads; pass it to ``fit`` with the dataset.
"""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from kerastricks.data.long_tail import check_class_counts, class_counts
from kerastricks.errors import check_arg

MODES = ("instance", "class", "sqrt", "progressive")
Mode = Literal["instance", "class", "sqrt", "progressive"]


def sampling_probabilities(counts, mode: str = "class", epoch: int = 0, epochs: int = 1) -> np.ndarray:
    """Probability of drawing each class at ``epoch`` (0-based) of ``epochs``.

    Args:
        counts: Training examples per class (all > 0).
        mode: One of ``"instance"``, ``"class"``, ``"sqrt"``, ``"progressive"``.
        epoch: The epoch, for ``"progressive"``.
        epochs: Total epochs, for ``"progressive"``.

    Returns:
        A float64 array summing to 1.

    Example:
        >>> sampling_probabilities([90, 10], "sqrt").round(3).tolist()
        [0.75, 0.25]
    """
    check_arg(mode in MODES, "mode", f"one of {MODES}", mode)
    n = check_class_counts(counts)
    instance = n / n.sum()
    balanced = np.full_like(n, 1.0 / len(n))
    if mode == "instance":
        return instance
    if mode == "class":
        return balanced
    if mode == "sqrt":
        root = np.sqrt(n)
        return root / root.sum()
    check_arg(int(epochs) >= 1, "epochs", ">= 1", epochs)
    t = min(max(int(epoch), 0), int(epochs) - 1) / max(int(epochs) - 1, 1)
    return (1.0 - t) * instance + t * balanced


@keras.saving.register_keras_serializable(package="kerastricks")
class ClassResampler(keras.callbacks.Callback):
    """Class-aware sampling of ``(x, y)`` for ``model.fit``.

    Build the dataset with :meth:`dataset` and pass the resampler itself as a
    callback: it tells the pipeline which epoch is starting (``"progressive"``
    needs it, and every mode uses it to draw a new sample each epoch). Without
    the callback the pipeline counts epochs itself, from 0.

    Args:
        y: Integer training labels (or one-hot), used for the class counts.
        mode: ``"instance"``, ``"class"`` (default), ``"sqrt"`` or ``"progressive"``.
        epochs: Total training epochs (used by ``"progressive"``).
        seed: Seed of the draws.
        num_classes: Number of classes; default ``max(y) + 1``.

    Example:
        >>> sampler = ClassResampler(y_train, mode="class", epochs=30, seed=0)
        >>> ds = sampler.dataset(x_train, y_train, batch_size=64)
        >>> model.fit(ds, epochs=30, callbacks=[sampler])
    """

    def __init__(self, y, mode: Mode = "class", epochs: int = 1, seed: int = 0,
                 num_classes: int | None = None) -> None:
        super().__init__()
        check_arg(mode in MODES, "mode", f"one of {MODES}", mode)
        check_arg(int(epochs) >= 1, "epochs", ">= 1", epochs)
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = np.argmax(labels, axis=1)
        self.labels = labels.reshape(-1).astype(np.int64)
        self.counts = class_counts(self.labels, num_classes)
        check_class_counts(self.counts, name="class counts of y")
        self.mode = mode
        self.epochs = int(epochs)
        self.seed = int(seed)
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="resampler_epoch")
        table = np.stack([sampling_probabilities(self.counts, mode, e, self.epochs) for e in range(self.epochs)])
        self._log_p = tf.constant(np.log(table), dtype=tf.float32)  # (epochs, C)

    # ---- keras.callbacks.Callback --------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch.assign(int(epoch))

    def state_dict(self) -> dict:
        return {"epoch": int(self._epoch.numpy())}

    def load_state_dict(self, state: dict) -> None:
        self._epoch.assign(int(state.get("epoch", 0)))

    # ---- the pipeline --------------------------------------------------------------
    def indices(self, epoch: int) -> np.ndarray:
        """The example indices drawn at ``epoch`` (what :meth:`dataset` yields, in order)."""
        return self._draw(tf.constant(int(epoch), tf.int64)).numpy()

    def _draw(self, epoch):
        n = len(self.labels)
        order = np.argsort(self.labels, kind="stable")
        starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        row = tf.minimum(epoch, self.epochs - 1)
        seed = tf.stack([tf.constant(self.seed, tf.int64), epoch])
        cls = tf.random.stateless_categorical(self._log_p[row][None, :], n, seed=seed)[0]
        u = tf.random.stateless_uniform([n], seed=seed + tf.constant([0, 1 << 20], tf.int64), dtype=tf.float64)
        count = tf.gather(tf.constant(self.counts, tf.float64), cls)
        offset = tf.minimum(tf.cast(tf.floor(u * count), tf.int64), tf.cast(count, tf.int64) - 1)
        pos = tf.gather(tf.constant(starts, tf.int64), cls) + offset
        return tf.gather(tf.constant(order, tf.int64), pos)

    def dataset(self, x: np.ndarray, y: np.ndarray, *, batch_size: int) -> tf.data.Dataset:
        """Batches of ``(x, y)`` drawn by class; ``ceil(N / batch_size)`` batches per epoch.

        ``x`` and ``y`` are embedded in the pipeline as constants (fine for
        in-memory datasets up to ~2 GB, TensorFlow's graph limit).
        """
        check_arg(int(batch_size) >= 1, "batch_size", ">= 1", batch_size)
        check_arg(len(x) == len(self.labels) == len(y), "x", f"{len(self.labels)} rows (as y)", len(x))
        xs = tf.constant(x)
        ys = tf.constant(y)
        epoch_var = self._epoch

        def one_epoch(_):
            epoch = epoch_var.read_value()
            idx = self._draw(epoch)
            with tf.control_dependencies([idx]):
                bump = epoch_var.assign_add(1)  # counts epochs when no callback sets them
            with tf.control_dependencies([bump]):
                idx = tf.identity(idx)
            return tf.data.Dataset.from_tensor_slices(idx)

        batches = -(-len(self.labels) // int(batch_size))
        ds = tf.data.Dataset.from_tensors(0).flat_map(one_epoch).batch(int(batch_size))
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))  # Keras then knows the steps
        ds = ds.map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    def get_config(self) -> dict:
        return {"y": self.labels.tolist(), "mode": self.mode, "epochs": self.epochs, "seed": self.seed,
                "num_classes": len(self.counts)}

    @classmethod
    def from_config(cls, config: dict) -> ClassResampler:
        return cls(**config)


__all__ = ["MODES", "ClassResampler", "sampling_probabilities"]
