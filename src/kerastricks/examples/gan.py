"""A small GAN for MNIST-1D sequences: a custom ``train_step`` on every Keras backend, kerastricks parts, and a
score that fails for a collapsed generator.

- :func:`make_generator`: latent vector (and, for a conditional GAN, a class label) -> ``(40, 1)`` sequence
  (Dense, two upsampling Conv1D blocks with BatchNorm, ``tanh`` output); :func:`make_discriminator`: strided
  Conv1D blocks, one logit, optionally every kernel under Keras's ``SpectralNormalization`` (Miyato et al.
  2018); for a conditional GAN either a projection term ``<embed(y), features(x)>`` (Miyato & Koyama 2018) or
  an auxiliary classifier (AC-GAN, Odena et al. 2017), by default a small BatchNorm CNN of its own.
- :class:`GAN`: a ``keras.Model`` whose ``train_step`` takes one discriminator step and one generator step per
  batch (hinge loss, or the non-saturating loss of Goodfellow et al. 2014; with an auxiliary classifier, plus
  ``aux_weight`` times its cross-entropy: on real labels for the discriminator, on the drawn labels for the
  generator), each with its own optimizer (held together by :class:`GANOptimizer`): two time-scale learning
  rates (TTUR, Heusel et al. 2017: the discriminator faster), each on a kerastricks
  :class:`~kerastricks.schedules.OneCycle` schedule (:func:`compile_gan`). The step is written once per
  backend the way the Keras guides write custom steps: ``tf.GradientTape`` on TensorFlow,
  ``jax.value_and_grad`` over a stateless forward pass returning the new state on JAX, ``loss.backward()``
  after ``zero_grad()`` on PyTorch; the losses are ``keras.ops``.
- :func:`classifier_score`: generated samples through a trained MNIST-1D classifier: the classifier score
  ``exp(E_x KL(p(y|x) || p(y)))`` (the Inception Score of Salimans et al. 2016 with an MNIST-1D classifier in
  place of Inception; 1 = one class or no confident class, 10 = ten equally used, confidently classified
  classes), the class entropy ``H(p(y)) / log 10``, the mean confidence, the classes seen and the
  nearest-neighbour distance. :func:`passes` requires all ten classes seen, a class entropy of at least 0.9, a
  mean confidence of at least 0.5 and, given the real data's scores, a classifier score of at least half of
  theirs and a nearest-neighbour distance of at least a quarter: a collapsed generator (one class) fails the
  first, the score and the distance, copies the distance, noise the confidence.

Run it with ``python examples/gan_mnist1d.py``; the card is ``docs/techniques/gan.md``.
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
LOSSES = ("hinge", "nonsaturating")
#: The score a generator must reach (see :func:`passes`).
MIN_CLASS_ENTROPY = 0.9
MIN_CONFIDENCE = 0.5
MIN_SCORE_FRACTION = 0.5  # of the real data's classifier score
#: Of the real data's nearest-neighbour distance: a check for copies (0), not for realism. Generated
#: sequences are smoother than real ones (they lack the data's i.i.d. noise), so their distance is lower.
MIN_NN_FRACTION = 0.25


def make_generator(latent_dim: int = LATENT_DIM, width: int = 64, num_classes: int | None = None) -> keras.Model:
    """``z (latent_dim,) [, y] -> x (40, 1)`` in ``[-1, 1]``: 10 steps upsampled twice by Conv1D blocks.

    With ``num_classes``, a second input (the integer class) is embedded and concatenated to ``z``.
    """
    z = keras.Input((latent_dim,), name="z")
    inputs: Any = z
    h = z
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [z, label]
        h = layers.Concatenate()([z, layers.Embedding(int(num_classes), latent_dim, name="label_embedding")(label)])
    x = layers.Dense(10 * width, use_bias=False)(h)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((10, width))(x)
    for filters in (width, width // 2):
        x = layers.UpSampling1D(2)(x)
        x = layers.Conv1D(filters, 5, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv1D(1, 5, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(inputs, x, name="generator")


def make_discriminator(width: int = 64, num_classes: int | None = None, spectral_norm: bool = False,
                       conditioning: str = "projection", depth: int = 3, strides: int = 2,
                       head: str = "flatten", norm: str | None = None, aux_tower: str = "separate") -> keras.Model:
    """``x (40, 1) [, y] -> logit``: ``depth`` Conv1D blocks (``width // 2``, then ``width`` filters, kernel 5,
    ``strides``, LeakyReLU 0.2, optional ``norm``: ``"layer"`` or ``"batch"``), flattened (``head="flatten"``)
    or averaged (``"gap"``), one logit.

    With ``num_classes`` and ``conditioning="projection"``, the logit gains the projection term
    ``<embed(y), phi(x)>`` (Miyato & Koyama 2018); with ``conditioning="auxiliary"`` the model takes ``x`` alone
    and returns ``[logit, class_logits]`` (AC-GAN, Odena et al. 2017): from a classifier of its own
    (``aux_tower="separate"``: three full-length Conv1D + BatchNorm + ReLU blocks, average pooling, as the
    project's MNIST-1D CNN, which learns the classes in a few epochs) or from a head on the shared features
    (``"shared"``). ``spectral_norm=True`` wraps every kernel of the adversarial part in Keras's
    ``SpectralNormalization``; see the card for why it is off by default here.
    """
    if aux_tower not in ("separate", "shared"):
        raise ValueError(f"Argument `aux_tower` must be 'separate' or 'shared'. Received: aux_tower={aux_tower!r}")
    if conditioning not in ("projection", "auxiliary"):
        raise ValueError("Argument `conditioning` must be 'projection' or 'auxiliary'. "
                         f"Received: conditioning={conditioning!r}")

    def sn(layer: Any) -> Any:
        return layers.SpectralNormalization(layer) if spectral_norm else layer

    x_in = keras.Input((LENGTH, 1), name="x")
    x = x_in
    for i in range(int(depth)):
        x = sn(layers.Conv1D(width // 2 if i == 0 else width, 5, strides=strides, padding="same"))(x)
        if norm == "layer":
            x = layers.LayerNormalization()(x)
        elif norm == "batch" and i > 0:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    features = layers.Flatten()(x) if head == "flatten" else layers.GlobalAveragePooling1D()(x)
    logit = sn(layers.Dense(1))(features)
    inputs: Any = x_in
    if num_classes and conditioning == "auxiliary":
        if aux_tower == "separate":  # a classifier of its own: full-length Conv1D + BatchNorm blocks
            c = x_in
            for _ in range(3):
                c = layers.Conv1D(32, 5, padding="same", use_bias=False)(c)
                c = layers.BatchNormalization()(c)
                c = layers.ReLU()(c)
            classes = layers.Dense(int(num_classes), name="classes")(layers.GlobalAveragePooling1D()(c))
        else:
            classes = sn(layers.Dense(int(num_classes), name="classes"))(features)
        return keras.Model(x_in, [layers.Activation("linear", dtype="float32")(logit),
                                  layers.Activation("linear", dtype="float32")(classes)], name="discriminator")
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [x_in, label]
        # a plain embedding: Keras's SpectralNormalization around an Embedding passes it no gradient
        embedded = layers.Embedding(int(num_classes), features.shape[-1], name="label_embedding")(label)
        projection = layers.Dot(axes=-1)([embedded, features])
        logit = layers.Add()([logit, projection])
    return keras.Model(inputs, layers.Activation("linear", dtype="float32")(logit), name="discriminator")


def discriminator_loss(real_logits: Any, fake_logits: Any, loss: str = "hinge", label_smoothing: float = 0.0) -> Any:
    """The discriminator's loss on a batch of real and of generated samples' logits.

    ``hinge``: ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))`` (Lim & Ye 2017; Miyato et al. 2018).
    ``nonsaturating``: the cross-entropy ``-t log s(D(x)) - (1 - t) log(1 - s(D(x))) - log(1 - s(D(G(z))))``
    with real targets ``t = 1 - label_smoothing`` (one-sided smoothing, Salimans et al. 2016).
    """
    real_logits, fake_logits = ops.cast(real_logits, "float32"), ops.cast(fake_logits, "float32")
    if loss == "hinge":
        return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))
    t = 1.0 - float(label_smoothing)
    # -log s(l) = softplus(-l), -log(1 - s(l)) = softplus(l)
    real = t * ops.softplus(-real_logits) + (1.0 - t) * ops.softplus(real_logits)
    return ops.mean(real) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits: Any, loss: str = "hinge") -> Any:
    """The generator's loss: ``-mean(D(G(z)))`` (hinge) or the non-saturating ``-mean(log s(D(G(z))))``."""
    fake_logits = ops.cast(fake_logits, "float32")
    if loss == "hinge":
        return -ops.mean(fake_logits)
    return ops.mean(ops.softplus(-fake_logits))


@keras.saving.register_keras_serializable(package="kerastricks")
class GANOptimizer(keras.optimizers.Optimizer):
    """The two players' optimizers as one Keras optimizer (the model's ``optimizer``).

    Keras's trainers carry one optimizer's variables through a training step (on JAX as arrays in and out of
    the compiled step); this container makes them the discriminator's optimizer's variables followed by the
    generator's, so both players' state is carried, checkpointed and saved. It applies nothing itself:
    :meth:`GAN.train_step` calls ``discriminator_optimizer`` and ``generator_optimizer`` on their own
    players. ``iterations`` and ``learning_rate`` are the discriminator optimizer's.

    Args:
        discriminator_optimizer: A ``keras.optimizers.Optimizer`` (or its name or config).
        generator_optimizer: Likewise, for the generator.
        name: The optimizer's name.
    """

    def __init__(self, discriminator_optimizer: Any, generator_optimizer: Any, name: str = "gan_optimizer",
                 **kwargs: Any) -> None:
        if kwargs:
            raise ValueError(f"GANOptimizer does not take `{'`, `'.join(kwargs)}`: set them on the players' "
                             "optimizers.")
        super().__init__(learning_rate=0.0, name=name)
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        self.generator_optimizer = keras.optimizers.get(generator_optimizer)

    def build_players(self, discriminator_variables: list, generator_variables: list) -> None:
        """Build each player's optimizer on its own trainable variables."""
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(discriminator_variables)
        if not self.generator_optimizer.built:
            self.generator_optimizer.build(generator_variables)
        self._players = (list(discriminator_variables), list(generator_variables))
        self.built = True

    def build(self, var_list: list) -> None:
        if not self.built:
            raise ValueError("GANOptimizer is built by GAN.compile (build_players), on each player's variables.")

    @property
    def variables(self) -> list:
        return self.discriminator_optimizer.variables + self.generator_optimizer.variables

    @property
    def iterations(self) -> Any:
        return self.discriminator_optimizer.iterations

    @property
    def learning_rate(self) -> Any:
        return self.discriminator_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:  # the base class sets it once; the players keep theirs
        pass

    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        raise NotImplementedError("GANOptimizer applies nothing itself: use its players' optimizers.")

    def finalize_variable_values(self, var_list: list) -> None:
        """At the end of ``fit``, each player's optimizer finalizes its own variables (an optimizer with
        ``use_ema=True`` puts the moving average into its player's weights)."""
        discriminator_variables, generator_variables = getattr(self, "_players", ([], []))
        self.discriminator_optimizer.finalize_variable_values(discriminator_variables)
        self.generator_optimizer.finalize_variable_values(generator_variables)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name,
                "discriminator_optimizer": keras.saving.serialize_keras_object(self.discriminator_optimizer),
                "generator_optimizer": keras.saving.serialize_keras_object(self.generator_optimizer)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> GANOptimizer:
        config = dict(config)
        players = {key: keras.saving.deserialize_keras_object(config.pop(key), custom_objects=custom_objects)
                   for key in ("discriminator_optimizer", "generator_optimizer")}
        return cls(**players, **config)


@keras.saving.register_keras_serializable(package="kerastricks")
class GAN(keras.Model):
    """Generator and discriminator trained against each other by a custom ``train_step``.

    Each batch: a discriminator step on :func:`discriminator_loss` (the generated batch's gradient stopped),
    then a generator step on :func:`generator_loss` with a fresh latent draw, each player with its own
    optimizer (:meth:`compile`). A discriminator with two outputs ``[logit, class_logits]`` (an auxiliary
    classifier, AC-GAN) adds ``aux_weight`` times the class cross-entropy: of the real samples and their
    labels to the discriminator's loss, of the generated samples and the labels they were drawn for to the
    generator's. ``call(z)`` (``call([z, labels])`` when conditional) generates;
    ``data_scale`` maps samples back to the data's range (the generator works in ``[-1, 1]``). A conditional
    GAN (``num_classes``) trains on ``(x, y)`` and conditions both players on ``y``.

    Works on TensorFlow, JAX and PyTorch. On JAX the step is a pure function of the trainer's state (both
    players' weights, their BatchNorm and spectral-norm states, the latent seed, both optimizers' variables
    through :class:`GANOptimizer`, the loss trackers) and returns the new state.

    Args:
        generator: ``z -> x`` model (default :func:`make_generator`).
        discriminator: ``x -> logit`` model (default :func:`make_discriminator`).
        latent_dim: Size of ``z``, >= 1.
        data_scale: ``x_data = data_scale * G(z)``, > 0.
        label_smoothing: One-sided label smoothing of the real labels (Salimans et al. 2016), in [0, 0.5);
            non-saturating loss only.
        seed: Seed of the latent draws.
        loss: ``"hinge"`` (default) or ``"nonsaturating"``.
        num_classes: Classes of a conditional GAN (None: unconditional).
        aux_weight: Weight of the auxiliary classifier's cross-entropy (AC-GAN discriminators only).
    """

    def __init__(self, generator: Any = None, discriminator: Any = None, latent_dim: int = LATENT_DIM,
                 data_scale: float = 1.0, label_smoothing: float = 0.0, seed: int = 0, loss: str = "hinge",
                 num_classes: int | None = None, aux_weight: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(latent_dim) < 1:
            raise ValueError(f"Argument `latent_dim` must be >= 1. Received: latent_dim={latent_dim!r}")
        if not float(data_scale) > 0:
            raise ValueError(f"Argument `data_scale` must be > 0. Received: data_scale={data_scale!r}")
        if not 0 <= float(label_smoothing) < 0.5:
            raise ValueError(f"Argument `label_smoothing` must be in [0, 0.5). Received: "
                             f"label_smoothing={label_smoothing!r}")
        if loss not in LOSSES:
            raise ValueError(f"Argument `loss` must be one of {', '.join(LOSSES)}. Received: loss={loss!r}")
        if num_classes is not None and int(num_classes) < 2:
            raise ValueError(f"Argument `num_classes` must be None or >= 2. Received: num_classes={num_classes!r}")
        if isinstance(generator, dict):  # a copy: Keras's deserialization consumes the config it reads
            generator = keras.saving.deserialize_keras_object(copy.deepcopy(generator))
        if isinstance(discriminator, dict):
            discriminator = keras.saving.deserialize_keras_object(copy.deepcopy(discriminator))
        self.latent_dim = int(latent_dim)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.generator = generator if generator is not None else make_generator(self.latent_dim,
                                                                                num_classes=self.num_classes)
        self.discriminator = discriminator if discriminator is not None else make_discriminator(
            num_classes=self.num_classes)
        self.data_scale = float(data_scale)
        self.label_smoothing = float(label_smoothing)
        self.loss_name = loss
        self.aux_weight = float(aux_weight)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True  # both players are built models: nothing to build on a first call

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    # ---- compiling: one optimizer per player ----------------------------------------------------
    def compile(self, d_optimizer: Any = None, g_optimizer: Any = None, optimizer: Any = None,
                **kwargs: Any) -> None:
        """Set the two optimizers (default: :func:`ttur_optimizers` with constant rates), or a built
        :class:`GANOptimizer` as ``optimizer``."""
        if not isinstance(optimizer, GANOptimizer):
            if optimizer is not None:
                raise ValueError("GAN.compile takes `d_optimizer` and `g_optimizer` (or a GANOptimizer as "
                                 f"`optimizer`). Received: optimizer={optimizer!r}")
            if d_optimizer is None or g_optimizer is None:
                d_default, g_default = ttur_optimizers()
                d_optimizer, g_optimizer = d_optimizer or d_default, g_optimizer or g_default
            optimizer = GANOptimizer(d_optimizer, g_optimizer)
        super().compile(optimizer=optimizer, **kwargs)
        optimizer.build_players(self.discriminator.trainable_variables, self.generator.trainable_variables)

    @property
    def d_optimizer(self) -> Any:
        return self.optimizer.discriminator_optimizer if isinstance(self.optimizer, GANOptimizer) else None

    @property
    def g_optimizer(self) -> Any:
        return self.optimizer.generator_optimizer if isinstance(self.optimizer, GANOptimizer) else None

    def get_compile_config(self) -> dict[str, Any] | None:
        if not isinstance(self.optimizer, GANOptimizer):
            return None
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}

    def compile_from_config(self, config: Any) -> None:
        """A loaded GAN comes back compiled with its two optimizers (their state is loaded after this)."""
        if config and config.get("optimizer"):
            self.compile(optimizer=keras.saving.deserialize_keras_object(config["optimizer"]))

    @property
    def metrics(self) -> list[Any]:
        return [self.d_loss_tracker, self.g_loss_tracker]

    # ---- the two players' losses (backend-neutral) ------------------------------------------------
    def _split(self, data: Any) -> tuple[Any, Any]:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(x, "float32")
        if self.num_classes is None:
            return real, None
        if y is None:
            raise ValueError("A conditional GAN (num_classes set) trains on (x, y): fit(x, y).")
        return real, ops.cast(ops.reshape(y, (-1,)), "int32")

    def _generate(self, batch: Any, labels: Any) -> Any:
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        # the discriminator sees both players' samples in the data's units
        return self.generator(z if labels is None else [z, labels], training=True) * self.data_scale

    @property
    def auxiliary(self) -> bool:
        """Whether the discriminator has an auxiliary classifier head (returns ``[logit, class_logits]``)."""
        return len(self.discriminator.outputs) == 2

    def _judge(self, x: Any, labels: Any) -> tuple[Any, Any]:
        """``(logit, class_logits or None)``."""
        if self.auxiliary:
            logit, classes = self.discriminator(x, training=True)
            return logit, classes
        return self.discriminator(x if labels is None else [x, labels], training=True), None

    def _class_loss(self, labels: Any, class_logits: Any) -> Any:
        return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, ops.cast(class_logits, "float32"),
                                                                     from_logits=True))

    def _d_loss(self, real: Any, labels: Any) -> Any:
        batch = ops.shape(real)[0]
        fake = ops.stop_gradient(self._generate(batch, labels))
        # one discriminator call on both halves: its spectral normalization updates the kernel once per call
        both = ops.concatenate([real, ops.cast(fake, real.dtype)], axis=0)
        logits, classes = self._judge(both, None if labels is None else ops.concatenate([labels, labels], axis=0))
        loss = discriminator_loss(logits[:batch], logits[batch:], self.loss_name, self.label_smoothing)
        if classes is not None:  # the auxiliary head learns the classes of real samples only
            loss = loss + self.aux_weight * self._class_loss(labels, classes[:batch])
        return loss

    def _g_loss(self, real: Any, labels: Any) -> Any:
        logits, classes = self._judge(self._generate(ops.shape(real)[0], labels), labels)
        loss = generator_loss(logits, self.loss_name)
        if classes is not None:  # ... and the generator makes its samples classified as their labels
            loss = loss + self.aux_weight * self._class_loss(labels, classes)
        return loss

    # ---- the step, per backend --------------------------------------------------------------------
    def train_step(self, *args: Any) -> Any:
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if self.d_optimizer is None:
            raise ValueError("Compile the GAN first: gan.compile(d_optimizer, g_optimizer) or compile_gan(gan, ...)")
        (data,) = args
        real, labels = self._split(data)
        steps = ((self._d_loss, self.discriminator, self.d_optimizer),
                 (self._g_loss, self.generator, self.g_optimizer))
        losses = []
        for loss_fn, player, optimizer in steps:
            weights = player.trainable_weights
            if backend == "tensorflow":
                import tensorflow as tf

                with tf.GradientTape() as tape:
                    loss = loss_fn(real, labels)
                grads = tape.gradient(loss, weights)
                optimizer.apply(grads, weights)
            elif backend == "torch":
                import torch

                self.zero_grad()
                loss = loss_fn(real, labels)
                loss.backward()
                grads = [w.value.grad for w in weights]
                with torch.no_grad():
                    optimizer.apply(grads, weights)
            else:
                raise NotImplementedError(f"GAN.train_step has no step for the {backend!r} backend.")
            losses.append(loss)
        self.d_loss_tracker.update_state(losses[0])
        self.g_loss_tracker.update_state(losses[1])
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    def _jax_train_step(self, state: Any, data: Any) -> tuple[dict[str, Any], tuple]:
        """The JAX step: a pure function of the trainer's state, returning the logs and the new state.

        Each player's step differentiates a stateless forward pass (``keras.StatelessScope`` maps every model
        variable to its current value) with respect to that player's weights; what the pass assigns (BatchNorm
        statistics, the spectral-norm vectors and normalized kernels, the latent seed) becomes the current
        value for what follows, and the player's optimizer applies its gradients with ``stateless_apply``.
        """
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        model_vars = list(self.trainable_variables) + list(self.non_trainable_variables)
        current = {id(v): value for v, value in zip(model_vars, list(trainable) + list(non_trainable))}
        real, labels = self._split(data)
        n_d = len(self.d_optimizer.variables)
        players = ((self._d_loss, self.discriminator, self.d_optimizer, optimizer_values[:n_d]),
                   (self._g_loss, self.generator, self.g_optimizer, optimizer_values[n_d:]))
        losses, new_optimizer_values = [], []
        for loss_fn, player, optimizer, opt_values in players:
            weights = list(player.trainable_variables)
            own = {id(v) for v in weights}

            def forward(weight_values: list, own: set = own, weights: list = weights, loss_fn: Any = loss_fn) -> Any:
                mapping = [(v, current[id(v)]) for v in model_vars if id(v) not in own] + list(zip(weights,
                                                                                                  weight_values))
                with keras.StatelessScope(state_mapping=mapping) as scope:
                    loss = loss_fn(real, labels)
                assigned = [scope.get_current_value(v) for v in model_vars]
                return loss, assigned

            (loss, assigned), grads = jax.value_and_grad(forward, has_aux=True)([current[id(v)] for v in weights])
            for v, value in zip(model_vars, assigned):
                if value is not None:
                    current[id(v)] = jax.lax.stop_gradient(value)
            new_weights, opt_values = optimizer.stateless_apply(list(opt_values), grads,
                                                                [current[id(v)] for v in weights])
            for v, value in zip(weights, new_weights):
                current[id(v)] = value
            losses.append(loss)
            new_optimizer_values += list(opt_values)
        n_m = len(self.d_loss_tracker.variables)
        d_metric = self.d_loss_tracker.stateless_update_state(metric_values[:n_m], losses[0])
        g_metric = self.g_loss_tracker.stateless_update_state(metric_values[n_m:], losses[1])
        logs = {"d_loss": self.d_loss_tracker.stateless_result(d_metric),
                "g_loss": self.g_loss_tracker.stateless_result(g_metric)}
        new_state = ([current[id(v)] for v in self.trainable_variables],
                     [current[id(v)] for v in self.non_trainable_variables],
                     new_optimizer_values, list(d_metric) + list(g_metric))
        return logs, new_state

    # ---- sampling and serialization ---------------------------------------------------------------
    def generate(self, n: int, seed: int = 0, batch_size: int = 500, labels: Any = None,
                 truncation: float | None = None) -> np.ndarray:
        """``n`` samples in the data's range, from latent draws fixed by ``seed``.

        A conditional GAN draws ``labels`` (default: ``0, 1, ..., num_classes - 1`` repeated, as even as ``n``
        allows); :meth:`labels_for` gives that default. ``truncation`` (> 0): the truncation trick of Brock et
        al. 2018 (BigGAN): latent entries beyond ``±truncation`` are drawn again, trading variety for typical
        samples.
        """
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, self.latent_dim))
        if truncation is not None:
            if not truncation > 0:
                raise ValueError(f"Argument `truncation` must be > 0. Received: truncation={truncation!r}")
            outside = np.abs(z) > truncation
            while outside.any():
                z[outside] = rng.normal(size=int(outside.sum()))
                outside = np.abs(z) > truncation
        z = z.astype("float32")
        if self.num_classes is not None:
            labels = self.labels_for(n) if labels is None else np.asarray(labels, "int32")
        out = []
        for i in range(0, n, batch_size):
            inputs = z[i:i + batch_size] if labels is None else [z[i:i + batch_size], labels[i:i + batch_size]]
            out.append(keras.ops.convert_to_numpy(self.generator(inputs, training=False)))
        return np.concatenate(out) * self.data_scale

    def labels_for(self, n: int) -> np.ndarray | None:
        """The class labels :meth:`generate` conditions ``n`` samples on (None for an unconditional GAN)."""
        return None if self.num_classes is None else (np.arange(n) % self.num_classes).astype("int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "latent_dim": self.latent_dim, "data_scale": self.data_scale,
                "label_smoothing": self.label_smoothing, "seed": self.seed, "loss": self.loss_name,
                "num_classes": self.num_classes, "aux_weight": self.aux_weight}


def ttur_optimizers(d_rate: float = 2e-3, g_rate: float = 1e-3, total_steps: int | None = None,
                    beta_1: float = 0.0, beta_2: float = 0.9, g_ema: float | None = None) -> tuple:
    """Adam for each player, the discriminator faster (TTUR, Heusel et al. 2017).

    ``beta_1 = 0``, ``beta_2 = 0.9``: the setting of the spectral-normalization GANs (Miyato et al. 2018).
    With ``total_steps``, each rate follows a kerastricks :class:`~kerastricks.schedules.OneCycle` schedule
    peaking at it; otherwise the rates are constant. ``g_ema``: the generator's optimizer keeps an exponential
    moving average of the generator's weights with this momentum (Keras's ``use_ema``) and puts it into the
    generator at the end of ``fit`` (Yazici et al. 2019).
    """
    from kerastricks.schedules import OneCycle

    def rate(peak: float) -> Any:
        return OneCycle(peak, int(total_steps), pct_start=0.1) if total_steps else peak

    ema = {"use_ema": True, "ema_momentum": float(g_ema)} if g_ema else {}
    return (keras.optimizers.Adam(rate(d_rate), beta_1=beta_1, beta_2=beta_2),
            keras.optimizers.Adam(rate(g_rate), beta_1=beta_1, beta_2=beta_2, **ema))


def compile_gan(gan: GAN, total_steps: int, d_rate: float = 2e-3, g_rate: float = 1e-3, **kwargs: Any) -> GAN:
    """Compile ``gan`` with TTUR Adam optimizers on one-cycle schedules over ``total_steps``."""
    d_opt, g_opt = ttur_optimizers(d_rate, g_rate, total_steps, **kwargs)
    gan.compile(d_optimizer=d_opt, g_optimizer=g_opt)
    return gan


def classifier_score(samples: np.ndarray, classifier: keras.Model, num_classes: int = 10,
                     labels: Any = None) -> dict[str, float]:
    """How a trained classifier sees ``samples``: classifier score, class entropy, mean confidence.

    Args:
        samples: ``(n, 40, 1)`` sequences in the data's range.
        classifier: A model from MNIST-1D inputs to class logits (e.g. a run's ``model.keras``).
        num_classes: Classes of the classifier.
        labels: The classes the samples were meant to be (a conditional GAN's labels, or the real data's):
            adds ``label_accuracy``, the fraction the classifier assigns to them.

    Returns:
        ``score`` = ``exp(mean_x KL(p(y|x) || p(y)))`` in ``[1, num_classes]``; ``class_entropy`` =
        ``H(p(y)) / log(num_classes)`` in ``[0, 1]`` (1: every class equally often); ``mean_confidence`` =
        mean of ``max_y p(y|x)``; ``classes_seen`` = classes that are the arg-max of at least 1% of samples;
        ``nn_distance`` = :func:`nearest_neighbour_distance` (no classifier involved).
    """
    from kerastricks.ensemble.runs import predict
    from kerastricks.evaluation import softmax

    p = softmax(predict(classifier, np.asarray(samples, dtype="float32")))
    eps = 1e-12
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    counts = np.bincount(p.argmax(axis=1), minlength=num_classes)
    out = {
        "score": float(np.exp(kl.mean())),
        "class_entropy": float(-np.sum(marginal * np.log(marginal + eps)) / math.log(num_classes)),
        "mean_confidence": float(p.max(axis=1).mean()),
        "classes_seen": int(np.sum(counts >= 0.01 * len(p))),
    }
    out["nn_distance"] = nearest_neighbour_distance(samples)
    if labels is not None:
        out["label_accuracy"] = float(np.mean(p.argmax(axis=1) == np.asarray(labels).reshape(-1)))
    return out


def nearest_neighbour_distance(samples: np.ndarray, batch_size: int = 500) -> float:
    """Mean over samples of the Euclidean distance to the nearest *other* sample: 0 when every sample has a
    copy (a generator collapsed to a few outputs, even one per class), comparable to the real data's
    otherwise. Compare it to the real data's value for the same number of samples."""
    x = np.asarray(samples, dtype="float64").reshape(len(samples), -1)
    sq = np.sum(x * x, axis=1)
    nearest = []
    for i in range(0, len(x), batch_size):
        d2 = sq[i:i + batch_size, None] + sq[None, :] - 2.0 * x[i:i + batch_size] @ x.T
        d2[np.arange(len(d2)), np.arange(i, i + len(d2))] = np.inf  # not the sample itself
        nearest.append(np.sqrt(np.maximum(d2.min(axis=1), 0.0)))
    return float(np.concatenate(nearest).mean())


def passes(score: dict[str, float], num_classes: int = 10, reference: dict[str, float] | None = None) -> bool:
    """True when every class is the classifier's pick for at least 1% of the samples, the picks are spread
    (class entropy >= 0.9), the samples look like digits to it (mean confidence >= 0.5) and, given the real
    data's scores as ``reference``, the classifier score is at least half of the real data's and the
    nearest-neighbour distance at least a quarter of it. A collapsed generator fails the first (one class
    seen, whatever the classifier's uncertainty about that one sample), the score (1) and the distance (0);
    one sample per class repeated fails the distance; noise fails the confidence."""
    ok = (score["classes_seen"] == num_classes and score["class_entropy"] >= MIN_CLASS_ENTROPY
          and score["mean_confidence"] >= MIN_CONFIDENCE)
    if reference is not None:
        ok = ok and score["score"] >= MIN_SCORE_FRACTION * reference["score"]
        if "nn_distance" in score and "nn_distance" in reference:
            ok = ok and score["nn_distance"] >= MIN_NN_FRACTION * reference["nn_distance"]
    return bool(ok)


__all__ = ["GAN", "GANOptimizer", "classifier_score", "compile_gan", "discriminator_loss", "generator_loss",
           "make_discriminator", "make_generator", "nearest_neighbour_distance", "passes", "ttur_optimizers"]
