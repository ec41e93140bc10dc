"""Decoupled classifier learning (Kang et al. 2019): cRT and tau-normalization.

Both run after the (representation) training, on the model the trainer keeps
(best epoch by ``train.monitor``), before the final evaluation, and change only
the weights of the model's last Dense layer (``"logits"`` in the zoo). Features
are the layer's inputs computed once in inference mode (BatchNorm statistics
fixed, dropout off), which is what freezing the feature extractor means.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import NonNegativeFloat, PositiveFloat, PositiveInt

#: Values of tau tried on the validation set when ``tau`` is not given.
TAU_GRID = tuple(round(0.1 * i, 1) for i in range(21))  # 0.0, 0.1, ..., 2.0


def _classifier(model: keras.Model, layer_name: str, ctx: TrainContext, technique: str) -> keras.layers.Dense:
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        raise ConfigError(f"{technique} re-trains the model's classifier layer, which is missing",
                          file=ctx.file, key=f"techniques.{technique}.layer",
                          expected="the name of the model's last Dense layer", received=layer_name) from None
    if not isinstance(layer, keras.layers.Dense):
        raise ConfigError(f"{technique} needs a Dense classifier layer", file=ctx.file,
                          key=f"techniques.{technique}.layer", expected="a Dense layer",
                          received=type(layer).__name__)
    return layer


def _check_classification(ctx: TrainContext, technique: str) -> None:
    data = ctx.dataset
    if data is None or data.task != "classification":
        raise ConfigError(f"{technique} needs a classification dataset", file=ctx.file,
                          key=f"techniques.{technique}", expected="classification data",
                          received="no dataset" if data is None else data.task)


def classifier_features(model: keras.Model, layer: keras.layers.Layer, x: np.ndarray,
                        batch_size: int = 256) -> np.ndarray:
    """Inputs of ``layer`` (the classifier) for ``x``, in inference mode."""
    extractor = keras.Model(model.inputs, layer.input)
    return np.asarray(extractor.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def tau_normalized_kernel(kernel: np.ndarray, tau: float) -> np.ndarray:
    """``w_c / ||w_c||^tau`` for every class column ``w_c`` of a ``(features, C)`` kernel."""
    norms = np.linalg.norm(kernel, axis=0, keepdims=True)
    return kernel / np.maximum(norms, 1e-12) ** tau


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, num_classes: int) -> float:
    """Mean per-class recall over the classes present in ``y``."""
    y = np.asarray(y).reshape(-1)
    recalls = [np.mean(pred[y == c] == c) for c in range(num_classes) if np.any(y == c)]
    return float(np.mean(recalls)) if recalls else 0.0


@register_technique(
    "crt",
    description="Classifier re-training (Kang et al. 2019): after training, re-learn the last layer "
    "from scratch with class-balanced sampling, features frozen.",
)
class ClassifierRetraining(Technique):
    """cRT: re-initialize and re-train the classifier on frozen features.

    Args:
        epochs: Epochs of classifier training (Kang et al.: 10).
        learning_rate: Adam learning rate of the classifier.
        mode: Sampling of the re-training (``"class"``-balanced by default;
            see :class:`kerastricks.data.ClassResampler`).
        layer: Name of the classifier layer (a Dense layer; ``"logits"`` in the zoo).
    """

    def __init__(self, epochs: PositiveInt = 10, learning_rate: PositiveFloat = 1e-3,
                 mode: Literal["class", "sqrt", "progressive", "instance"] = "class",
                 layer: str = "logits") -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.mode = mode
        self.layer = layer

    def after_fit(self, model, ctx: TrainContext) -> None:
        from kerastricks.data.resampling import ClassResampler

        _check_classification(ctx, self.name)
        layer = _classifier(model, self.layer, ctx, self.name)
        data = ctx.dataset
        feats = classifier_features(model, layer, data.x_train)
        config = layer.get_config()
        config.update(name="classifier", dtype="float32")
        head_layer = keras.layers.Dense.from_config(config)  # fresh weights from the layer's initializers
        inputs = keras.Input(shape=feats.shape[1:])
        head = keras.Model(inputs, head_layer(inputs))
        head.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        sampler = ClassResampler(data.y_train, mode=self.mode, epochs=self.epochs, seed=ctx.seed,
                                 num_classes=data.num_classes)
        ds = sampler.dataset(feats, data.y_train, batch_size=ctx.batch_size)
        history = head.fit(ds, epochs=self.epochs, callbacks=[sampler], shuffle=False, verbose=0)
        layer.set_weights([np.asarray(w, dtype=np.asarray(v).dtype)
                           for w, v in zip(head_layer.get_weights(), layer.get_weights())])
        ctx.notes[self.name] = {"final_loss": float(history.history["loss"][-1])}


@register_technique(
    "tau_norm",
    description="tau-normalization (Kang et al. 2019): rescale classifier weights by 1/||w_c||^tau, "
    "tau chosen on validation balanced accuracy.",
)
class TauNormalization(Technique):
    """Rescale each class's classifier weights: ``w_c <- w_c / ||w_c||^tau``.

    Head classes get larger weight norms under long-tailed training; dividing
    by a power of the norm evens the decision boundaries out without any
    re-training. With ``tau`` unset, every value of :data:`TAU_GRID`
    (0 to 2 by 0.1; 0 leaves the model as it is) is tried on the validation
    set and the one with the best balanced accuracy is kept (ties: the
    smallest); the choice is in ``report.json`` under
    ``techniques.tau_norm.tau``.

    Args:
        tau: A fixed tau >= 0; default: chosen on the validation set.
        bias: ``"keep"`` the classifier's bias as trained, or ``"drop"`` it
            (set it to 0; the bias learns the training prior too).
        layer: Name of the classifier layer (a Dense layer; ``"logits"`` in the zoo).
    """

    def __init__(self, tau: Optional[NonNegativeFloat] = None, bias: Literal["keep", "drop"] = "keep",
                 layer: str = "logits") -> None:
        self.tau = tau
        self.bias = bias
        self.layer = layer

    def check(self, recipe) -> None:
        if self.tau is None and not recipe.has_validation:
            raise ConfigError("tau_norm chooses tau on the validation set, and the recipe has none",
                              file=recipe.source, key="data.validation_split", expected="a value > 0",
                              received=recipe.data.get("validation_split"),
                              hint="or set techniques.tau_norm.tau")

    def after_fit(self, model, ctx: TrainContext) -> None:
        _check_classification(ctx, self.name)
        layer = _classifier(model, self.layer, ctx, self.name)
        weights = layer.get_weights()
        kernel = np.asarray(weights[0], dtype=np.float64)
        bias = np.asarray(weights[1], dtype=np.float64) if len(weights) > 1 else np.zeros(kernel.shape[1])
        if self.bias == "drop":
            bias = np.zeros_like(bias)
        note: dict = {}
        tau = self.tau
        if tau is None:
            data = ctx.dataset
            if data.x_val is None or not len(data.x_val):
                raise ConfigError("tau_norm chooses tau on the validation set, and the data has none",
                                  file=ctx.file, key="data.validation_split", expected="a value > 0",
                                  received=0, hint="or set techniques.tau_norm.tau")
            feats = classifier_features(model, layer, data.x_val).astype(np.float64)
            scores = {}
            for t in TAU_GRID:
                pred = np.argmax(feats @ tau_normalized_kernel(kernel, t) + bias, axis=-1)
                scores[t] = balanced_accuracy(data.y_val, pred, data.num_classes)
            tau = max(TAU_GRID, key=lambda t: (scores[t], -t))
            note["val_balanced_accuracy"] = {str(t): s for t, s in scores.items()}
        new = [tau_normalized_kernel(kernel, tau).astype(weights[0].dtype)]
        if len(weights) > 1:
            new.append(bias.astype(weights[1].dtype))
        layer.set_weights(new)
        ctx.notes[self.name] = {"tau": float(tau), **note}
