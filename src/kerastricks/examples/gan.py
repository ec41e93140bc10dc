"""A small GAN for MNIST-1D sequences: a custom ``train_step`` with kerastricks parts, and a score that fails
for a collapsed generator.

- :func:`make_generator`: latent vector -> ``(40, 1)`` sequence (Dense, two upsampling Conv1D blocks with
  BatchNorm, ``tanh`` output); :func:`make_discriminator`: strided Conv1D blocks, every kernel under Keras's
  ``SpectralNormalization`` (Miyato et al. 2018), one logit.
- :class:`GAN`: a ``keras.Model`` whose ``train_step`` takes one discriminator step and one generator step per
  batch (non-saturating loss, Goodfellow et al. 2014), each with its own optimizer: two time-scale learning
  rates (TTUR, Heusel et al. 2017: the discriminator faster), each on a kerastricks
  :class:`~kerastricks.schedules.OneCycle` schedule (:func:`compile_gan`).
- :func:`classifier_score`: generated samples through a trained MNIST-1D classifier: the classifier score
  ``exp(E_x KL(p(y|x) || p(y)))`` (the Inception Score of Salimans et al. 2016 with an MNIST-1D classifier in
  place of Inception; 1 = one class or no confident class, 10 = ten equally used, confidently classified
  classes), the class entropy ``H(p(y)) / log 10``, the mean confidence and the classes seen. :func:`passes`
  requires all ten classes seen, a class entropy of at least 0.9 and a mean confidence of at least 0.5: a
  collapsed generator (one class) fails the first, noise the last.

The ``train_step`` uses ``tf.GradientTape``: the GAN trains on the TensorFlow backend (every other piece is
``keras.ops``). Run it with ``python examples/gan_mnist1d.py``; the card is ``docs/techniques/gan.md``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

LATENT_DIM = 32
LENGTH = 40
#: The score a generator must reach (see :func:`passes`).
MIN_CLASS_ENTROPY = 0.9
MIN_CONFIDENCE = 0.5


def make_generator(latent_dim: int = LATENT_DIM, width: int = 64) -> keras.Model:
    """``z (latent_dim,) -> x (40, 1)`` in ``[-1, 1]``: 10 steps upsampled twice by Conv1D blocks."""
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(10 * width, use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((10, width))(x)
    for filters in (width, width // 2):
        x = layers.UpSampling1D(2)(x)
        x = layers.Conv1D(filters, 5, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv1D(1, 5, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(z, x, name="generator")


def make_discriminator(width: int = 64) -> keras.Model:
    """``x (40, 1) -> logit``: strided Conv1D blocks, every kernel spectrally normalized."""
    inputs = keras.Input((LENGTH, 1), name="x")
    x = inputs
    for filters in (width // 2, width, width):
        x = layers.SpectralNormalization(layers.Conv1D(filters, 5, strides=2, padding="same"))(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    logit = layers.SpectralNormalization(layers.Dense(1))(x)
    return keras.Model(inputs, layers.Activation("linear", dtype="float32")(logit), name="discriminator")


@keras.saving.register_keras_serializable(package="kerastricks")
class GAN(keras.Model):
    """Generator and discriminator trained against each other by a custom ``train_step``.

    Each batch: a discriminator step on ``log D(x) + log(1 - D(G(z)))`` (real labels smoothed to
    ``1 - label_smoothing``), then a generator step on the non-saturating ``log D(G(z))``, each with its own
    optimizer (:meth:`compile`). ``call(z)`` generates; ``data_scale`` maps samples back to the data's range
    (the generator works in ``[-1, 1]``).

    Args:
        generator: ``z -> x`` model (default :func:`make_generator`).
        discriminator: ``x -> logit`` model (default :func:`make_discriminator`).
        latent_dim: Size of ``z``, >= 1.
        data_scale: ``x_data = data_scale * G(z)``, > 0.
        label_smoothing: One-sided label smoothing of the real labels (Salimans et al. 2016), in [0, 0.5).
        seed: Seed of the latent draws.
    """

    def __init__(self, generator: Any = None, discriminator: Any = None, latent_dim: int = LATENT_DIM,
                 data_scale: float = 1.0, label_smoothing: float = 0.1, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(latent_dim) < 1:
            raise ValueError(f"Argument `latent_dim` must be >= 1. Received: latent_dim={latent_dim!r}")
        if not float(data_scale) > 0:
            raise ValueError(f"Argument `data_scale` must be > 0. Received: data_scale={data_scale!r}")
        if not 0 <= float(label_smoothing) < 0.5:
            raise ValueError(f"Argument `label_smoothing` must be in [0, 0.5). Received: "
                             f"label_smoothing={label_smoothing!r}")
        if isinstance(generator, dict):  # a copy: Keras's deserialization consumes the config it reads
            generator = keras.saving.deserialize_keras_object(copy.deepcopy(generator))
        if isinstance(discriminator, dict):
            discriminator = keras.saving.deserialize_keras_object(copy.deepcopy(discriminator))
        self.latent_dim = int(latent_dim)
        self.generator = generator if generator is not None else make_generator(self.latent_dim)
        self.discriminator = discriminator if discriminator is not None else make_discriminator()
        self.data_scale = float(data_scale)
        self.label_smoothing = float(label_smoothing)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_optimizer: Any = None
        self.g_optimizer: Any = None
        self.built = True  # both players are built models: nothing to build on a first call

    def call(self, z: Any, training: bool = False) -> Any:
        return self.generator(z, training=training)

    def compile(self, d_optimizer: Any = None, g_optimizer: Any = None, **kwargs: Any) -> None:
        """Set the two optimizers (default: :func:`ttur_optimizers` with a constant rate)."""
        super().compile(**kwargs)
        if d_optimizer is None or g_optimizer is None:
            d_default, g_default = ttur_optimizers()
            d_optimizer, g_optimizer = d_optimizer or d_default, g_optimizer or g_default
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)

    def compile_from_config(self, config: Any) -> None:
        """A loaded GAN is for generating; compile it again to continue training."""

    @property
    def metrics(self) -> list[Any]:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _latent(self, batch: Any) -> Any:
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def train_step(self, data: Any) -> dict[str, Any]:
        if keras.backend.backend() != "tensorflow":
            raise NotImplementedError("GAN.train_step uses tf.GradientTape: train it on the TensorFlow backend")
        import tensorflow as tf

        real = data[0] if isinstance(data, (tuple, list)) else data
        real = ops.cast(real, "float32") / self.data_scale
        batch = ops.shape(real)[0]
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        with tf.GradientTape() as tape:
            fake = self.generator(self._latent(batch), training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = (bce(ops.ones_like(real_logits) * (1.0 - self.label_smoothing), real_logits)
                      + bce(ops.zeros_like(fake_logits), fake_logits))
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(self._latent(batch), training=True), training=True)
            g_loss = bce(ops.ones_like(fake_logits), fake_logits)  # non-saturating: maximize log D(G(z))
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    def generate(self, n: int, seed: int = 0, batch_size: int = 500) -> np.ndarray:
        """``n`` samples in the data's range, from latent draws fixed by ``seed``."""
        z = np.random.default_rng(seed).normal(size=(n, self.latent_dim)).astype("float32")
        out = [keras.ops.convert_to_numpy(self.generator(z[i:i + batch_size], training=False))
               for i in range(0, n, batch_size)]
        return np.concatenate(out) * self.data_scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "latent_dim": self.latent_dim, "data_scale": self.data_scale,
                "label_smoothing": self.label_smoothing, "seed": self.seed}


def ttur_optimizers(d_rate: float = 4e-4, g_rate: float = 1e-4, total_steps: int | None = None) -> tuple:
    """Adam(beta_1 = 0.5) for each player, the discriminator's rate 4x the generator's (TTUR).

    With ``total_steps``, each rate follows a kerastricks :class:`~kerastricks.schedules.OneCycle` schedule
    peaking at it; otherwise the rates are constant.
    """
    from kerastricks.schedules import OneCycle

    def rate(peak: float) -> Any:
        return OneCycle(peak, int(total_steps), pct_start=0.1) if total_steps else peak

    return (keras.optimizers.Adam(rate(d_rate), beta_1=0.5, beta_2=0.999),
            keras.optimizers.Adam(rate(g_rate), beta_1=0.5, beta_2=0.999))


def compile_gan(gan: GAN, total_steps: int, d_rate: float = 4e-4, g_rate: float = 1e-4) -> GAN:
    """Compile ``gan`` with TTUR Adam optimizers on one-cycle schedules over ``total_steps``."""
    d_opt, g_opt = ttur_optimizers(d_rate, g_rate, total_steps)
    gan.compile(d_optimizer=d_opt, g_optimizer=g_opt)
    return gan


def classifier_score(samples: np.ndarray, classifier: keras.Model, num_classes: int = 10) -> dict[str, float]:
    """How a trained classifier sees ``samples``: classifier score, class entropy, mean confidence.

    Args:
        samples: ``(n, 40, 1)`` sequences in the data's range.
        classifier: A model from MNIST-1D inputs to class logits (e.g. a run's ``model.keras``).
        num_classes: Classes of the classifier.

    Returns:
        ``score`` = ``exp(mean_x KL(p(y|x) || p(y)))`` in ``[1, num_classes]``; ``class_entropy`` =
        ``H(p(y)) / log(num_classes)`` in ``[0, 1]`` (1: every class equally often); ``mean_confidence`` =
        mean of ``max_y p(y|x)``; ``classes_seen`` = classes that are the arg-max of at least 1% of samples.
    """
    from kerastricks.ensemble.runs import predict
    from kerastricks.evaluation import softmax

    p = softmax(predict(classifier, np.asarray(samples, dtype="float32")))
    eps = 1e-12
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    counts = np.bincount(p.argmax(axis=1), minlength=num_classes)
    return {
        "score": float(np.exp(kl.mean())),
        "class_entropy": float(-np.sum(marginal * np.log(marginal + eps)) / math.log(num_classes)),
        "mean_confidence": float(p.max(axis=1).mean()),
        "classes_seen": int(np.sum(counts >= 0.01 * len(p))),
    }


def passes(score: dict[str, float], num_classes: int = 10) -> bool:
    """True when every class is the classifier's pick for at least 1% of the samples, the picks are spread
    (class entropy >= 0.9) and the samples look like digits to it (mean confidence >= 0.5). A collapsed
    generator fails the first (one class seen, whatever the classifier's uncertainty about that one
    sample), noise the last."""
    return (score["classes_seen"] == num_classes and score["class_entropy"] >= MIN_CLASS_ENTROPY
            and score["mean_confidence"] >= MIN_CONFIDENCE)


__all__ = ["GAN", "classifier_score", "compile_gan", "make_discriminator", "make_generator", "passes",
           "ttur_optimizers"]
