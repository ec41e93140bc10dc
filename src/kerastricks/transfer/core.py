"""Plain-Keras transfer learning: reuse a model's layers, freeze them, group them, give each group its rate.

Four functions for users without recipes, plus the learning-rate schedule that the recipe workflow
(:mod:`kerastricks.transfer.workflow`) builds its two phases from:

- :func:`reuse`: a new functional model from a trained one's layers (up to a layer) and a new head;
- :func:`freeze`: mark the layers up to a layer untrainable (BatchNormalization layers then run in
  inference mode, Keras's rule for fine-tuning);
- :func:`layer_groups`: the layers in blocks, from the input to the output;
- :func:`discriminative`: one optimizer per group through ``keras.optimizers.MultiOptimizer``, the
  lowest group's rate ``lr / lr_mult``, spread geometrically up to ``lr`` for the top group;
- :class:`TransferLearningRate`: a group's rate over both phases (0 while the group is frozen).

Example:
    >>> import keras, kerastricks as kt
    >>> source = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="body"),
    ...                            keras.layers.Dense(3, name="logits")])
    >>> model = kt.transfer.reuse(source, new_head=2)          # body + a new 2-unit "logits"
    >>> kt.transfer.freeze(model)                               # everything but the head
    1
    >>> groups = kt.transfer.layer_groups(model)                # [["body"], ["logits"]]
    >>> opt = kt.transfer.discriminative(lambda: keras.optimizers.Adam(1e-3), groups, lr_mult=10.0)

Reference:
    Howard & Ruder, 2018, "Universal Language Model Fine-tuning for Text Classification" (ULMFiT:
    discriminative fine-tuning with rates divided by 2.6 per layer, gradual unfreezing), arXiv:1801.06146.
    Yosinski, Clune, Bengio & Lipson, 2014, "How transferable are features in deep neural networks?",
    arXiv:1411.1792.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

#: Layer kinds that belong to the weighted layer before them (a conv and its norm are one block).
_NORM_KINDS = ("BatchNormalization", "LayerNormalization", "GroupNormalization", "Normalization", "Norm")


def _is_norm(layer: Any) -> bool:
    name = type(layer).__name__
    return isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                              keras.layers.GroupNormalization)) or name.endswith(_NORM_KINDS)


def is_batch_norm(layer: Any) -> bool:
    """Whether ``layer`` normalizes with batch statistics (Keras's BatchNormalization or a subclass)."""
    return isinstance(layer, keras.layers.BatchNormalization)


def _model_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def layer_groups(model: keras.Model) -> list[list[str]]:
    """The layers of ``model`` as blocks, from the input to the output (names, in ``model.layers`` order).

    A block starts at each layer with weights that is not a normalization layer; normalization layers
    and weight-free layers (activations, pooling, dropout) join the block before them, and weight-free
    layers before the first weighted one join the first block. For the kerastricks zoo this gives one
    block per ``block<i>_*`` / ``dense<i>*`` stage plus the ``logits`` layer; for ``keras.applications``
    models, one block per convolution (with its BatchNormalization).

    Args:
        model: A built functional or Sequential model.

    Returns:
        Lists of layer names; the last block holds the output layer.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    weighted = False
    for layer in _model_layers(model):
        starts = bool(layer.weights) and not _is_norm(layer)
        if starts and weighted:
            groups.append(current)
            current, weighted = [], False
        current.append(layer.name)
        weighted = weighted or starts
    if current:
        if weighted or not groups:
            groups.append(current)
        else:
            groups[-1].extend(current)
    return groups


def group_multipliers(n_groups: int, lr_mult: float) -> list[float]:
    """Rate multipliers of ``n_groups`` groups (lowest first): ``lr_mult ** (-(n-1-i)/(n-1))``.

    The lowest group gets ``1 / lr_mult``, the top group 1, the ones between a geometric spread (fastai's
    ``slice(lr / lr_mult, lr)``). ``lr_mult >= 1``.
    """
    if n_groups < 1:
        raise ValueError(f"Argument `n_groups` must be >= 1. Received: n_groups={n_groups}")
    if not lr_mult >= 1:
        raise ValueError(f"Argument `lr_mult` must be >= 1. Received: lr_mult={lr_mult}")
    if n_groups == 1:
        return [1.0]
    return [float(lr_mult) ** (-(n_groups - 1 - i) / (n_groups - 1)) for i in range(n_groups)]


def _cut_output(model: keras.Model, up_to: str | None) -> Any:
    layers = _model_layers(model)
    if up_to is None:
        if len(layers) < 2:
            raise ValueError("Argument `up_to`: the model has no layer below its head to reuse.")
        out = layers[-1].input
        if isinstance(out, (list, tuple)):
            raise ValueError(f"The model's last layer '{layers[-1].name}' takes several inputs; pass `up_to`.")
        return out
    names = [layer.name for layer in layers]
    if up_to not in names:
        raise ValueError(f"Argument `up_to` must name a layer of the model. Received: up_to={up_to!r}")
    return model.get_layer(up_to).output


def task_head(x: Any, num_outputs: int, *, name: str = "logits") -> Any:
    """A task head on the feature tensor ``x``: global average pooling when ``x`` has spatial axes, then
    ``num_outputs`` linear float32 units named ``name`` (the zoo's convention: losses take logits)."""
    rank = len(x.shape)
    if rank > 2:
        pool = {3: keras.layers.GlobalAveragePooling1D, 4: keras.layers.GlobalAveragePooling2D,
                5: keras.layers.GlobalAveragePooling3D}.get(rank)
        x = pool(name=f"{name}_pool")(x) if pool is not None else keras.layers.Flatten(name=f"{name}_flatten")(x)
    return keras.layers.Dense(int(num_outputs), name=name, dtype="float32")(x)


def reuse(model: keras.Model, up_to: str | None = None, new_head: int | Callable | None = None) -> keras.Model:
    """A new functional model made of ``model``'s layers up to ``up_to`` and a new head.

    The layers (and their weights) are shared with ``model``, not copied: build from a freshly loaded
    model. Every reused layer is set trainable again (a model saved with frozen layers reloads frozen).

    Args:
        model: A built functional or Sequential model.
        up_to: The last reused layer's name; ``None``: every layer but the last (the old head).
        new_head: ``None`` (the reused part alone), an ``int`` (that many float32 logits, with global
            average pooling over spatial axes first, see :func:`task_head`) or a callable
            ``features -> outputs`` (a layer or a function of Keras tensors).

    Returns:
        The new model.

    Raises:
        ValueError: ``up_to`` names no layer, or the head cannot be found.
    """
    out = _cut_output(model, up_to)
    for layer in model.layers:
        layer.trainable = True
    if new_head is None:
        return keras.Model(model.inputs, out, name=f"{model.name}_reused")
    if isinstance(new_head, int) and not isinstance(new_head, bool):
        if new_head < 1:
            raise ValueError(f"Argument `new_head` must be >= 1 outputs. Received: new_head={new_head}")
        outputs = task_head(out, new_head)
    elif callable(new_head):
        outputs = new_head(out)
    else:
        raise ValueError(f"Argument `new_head` must be None, an int or a callable. Received: new_head={new_head!r}")
    return keras.Model(model.inputs, outputs, name=f"{model.name}_transfer")


def freeze(model: keras.Model, until: str | None = None) -> int:
    """Mark the layers from the input up to and including ``until`` untrainable.

    Untrainable BatchNormalization layers run in inference mode (moving statistics, not batch
    statistics, and the statistics stop updating), as Keras's fine-tuning guide recommends. Change
    ``trainable`` before ``compile`` (or compile again).

    Args:
        model: The model.
        until: The last layer to freeze; ``None``: every layer before the last weighted one (the head).

    Returns:
        How many frozen layers hold weights.
    """
    layers = _model_layers(model)
    names = [layer.name for layer in layers]
    if until is None:
        weighted = [i for i, layer in enumerate(layers) if layer.weights]
        stop = weighted[-1] - 1 if weighted else -1
    elif until in names:
        stop = names.index(until)
    else:
        raise ValueError(f"Argument `until` must name a layer of the model. Received: until={until!r}")
    count = 0
    for layer in layers[:stop + 1]:
        layer.trainable = False
        count += bool(layer.weights)
    return count


def _variable_paths(model: keras.Model, names: Sequence[str]) -> list[str]:
    paths = []
    for name in names:
        paths += [v.path for v in model.get_layer(name).weights]
    return paths


def configured_rate(optimizer: keras.optimizers.Optimizer) -> Any:
    """The rate ``optimizer`` was configured with (a float or a ``LearningRateSchedule``), read from its
    config; for a wrapper (AGC), the rate of the optimizer it holds."""
    config = optimizer.get_config()
    while "learning_rate" not in config and isinstance(config.get("optimizer"), dict):
        config = config["optimizer"].get("config", {})
    rate = config.get("learning_rate")
    if isinstance(rate, dict):
        return keras.optimizers.schedules.deserialize(rate)
    return rate


def scaled_rate(rate: Any, scale: float) -> Any:
    """``rate`` times ``scale``: a float, or a schedule wrapped in ``ScaledLearningRate``."""
    from kerastricks.schedules.scaled import ScaledLearningRate

    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return rate if scale == 1.0 else ScaledLearningRate(rate, scale)
    return float(keras.ops.convert_to_numpy(rate)) * float(scale)


def multi_optimizer(model: keras.Model, groups: Sequence[Sequence[str]],
                    optimizers: Sequence[keras.optimizers.Optimizer]) -> keras.optimizers.MultiOptimizer:
    """``keras.optimizers.MultiOptimizer`` giving the variables of each group's layers its optimizer.

    The last group's optimizer is the default: it also takes any variable outside the groups. The map
    keys are the variables' exact paths (escaped), so the map saves with the model.
    """
    if len(groups) != len(optimizers) or not groups:
        raise ValueError(f"Need one optimizer per group: {len(groups)} groups, {len(optimizers)} optimizers.")
    mapping = keras.optimizers.OptimizerMap(default_optimizer=optimizers[-1])
    for names, opt in zip(groups[:-1], optimizers[:-1]):
        for path in _variable_paths(model, names):
            mapping[re.escape(path)] = opt
    return keras.optimizers.MultiOptimizer(mapping)


def discriminative(optimizer_factory: Callable[[], keras.optimizers.Optimizer], groups: Sequence[Sequence[str]],
                   lr_mult: float = 1.0, *, model: keras.Model | None = None) -> keras.optimizers.MultiOptimizer:
    """Discriminative learning rates: one optimizer per layer group, rates spread geometrically.

    ``optimizer_factory()`` is called once per group; group ``i`` of ``n`` (lowest first) runs at the
    factory's rate times ``lr_mult ** (-(n-1-i)/(n-1))`` (:func:`group_multipliers`): the lowest group
    at ``lr / lr_mult``, the top group (the head) at ``lr``. A schedule is wrapped in
    ``ScaledLearningRate``; wrappers (AGC) pass the rate on to the optimizer they hold.

    Args:
        optimizer_factory: Returns a fresh, unbuilt optimizer (Adam, Adafactor, SM3, AGC(...), ...).
        groups: Layer names per group, lowest first (:func:`layer_groups`).
        lr_mult: Ratio of the top group's rate to the lowest's, >= 1.
        model: The model the groups' layers belong to. Without it, the groups are matched to variable
            paths by layer name (``"<layer>/..."``), which holds for layers created at top level.

    Returns:
        A ``keras.optimizers.MultiOptimizer`` for ``model.compile``.
    """
    mults = group_multipliers(len(groups), lr_mult)
    optimizers = []
    for mult in mults:
        opt = optimizer_factory()
        if not isinstance(opt, keras.optimizers.Optimizer):
            raise ValueError(f"Argument `optimizer_factory` must return a keras Optimizer. Received: {opt!r}")
        if mult != 1.0:
            opt.learning_rate = scaled_rate(configured_rate(opt), mult)
        optimizers.append(opt)
    if model is not None:
        return multi_optimizer(model, groups, optimizers)
    mapping = keras.optimizers.OptimizerMap(default_optimizer=optimizers[-1])
    for names, opt in zip(groups[:-1], optimizers[:-1]):
        mapping["(?:" + "|".join(re.escape(n) for n in names) + ")/.*"] = opt
    return keras.optimizers.MultiOptimizer(mapping)


def group_learning_rates(optimizer: keras.optimizers.MultiOptimizer) -> list[float]:
    """The current rate of each sub-optimizer of a ``MultiOptimizer`` (in ``optimizer.optimizers`` order)."""
    return [float(ops.convert_to_numpy(opt.learning_rate)) for opt in optimizer.optimizers]


@keras.saving.register_keras_serializable(package="kerastricks")
class TransferLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """One layer group's rate over a two-phase fine-tuning run.

    ```
    lr(step) = 0                                      step < start            (the group is frozen)
             = phase1(step)                           start <= step < phase2_start
             = multiplier * phase2(step - phase2_start)   step >= phase2_start
    ```

    The new head has ``start = 0``; a reused group has ``start >= phase2_start`` (``phase2_start``
    for "unfreeze all", one more block every ``unfreeze_every`` epochs for gradual unfreezing). Each
    phase's rate is a float or a schedule that starts from its own step 0 (the schedule restarts with
    phase 2). With a rate of 0, Keras's optimizers leave the weights exactly as they were (the update
    and the decoupled weight decay are both multiplied by the rate).

    Args:
        phase1: Rate of phase 1 (float or ``LearningRateSchedule``).
        phase2: Rate of phase 2 (float or ``LearningRateSchedule``), before ``multiplier``.
        phase2_start: First optimizer step of phase 2, >= 0.
        start: First step at which the group trains, >= 0.
        multiplier: The group's phase-2 multiplier (discriminative rates), > 0.
    """

    def __init__(self, phase1: Any, phase2: Any, phase2_start: int, start: int = 0,
                 multiplier: float = 1.0) -> None:
        phase1, phase2 = _rate(phase1, "phase1"), _rate(phase2, "phase2")
        if int(phase2_start) < 0:
            raise ValueError(f"Argument `phase2_start` must be >= 0. Received: phase2_start={phase2_start}")
        if int(start) < 0:
            raise ValueError(f"Argument `start` must be >= 0. Received: start={start}")
        if not float(multiplier) > 0:
            raise ValueError(f"Argument `multiplier` must be > 0. Received: multiplier={multiplier}")
        self.phase1, self.phase2 = phase1, phase2
        self.phase2_start, self.start, self.multiplier = int(phase2_start), int(start), float(multiplier)

    @staticmethod
    def _at(rate: Any, step: Any) -> Any:
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            return ops.cast(rate(step), "float32")
        return ops.convert_to_tensor(float(rate), "float32")

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "int64")
        p2 = self.phase2_start
        first = self._at(self.phase1, ops.minimum(step, max(p2 - 1, 0)))
        second = self._at(self.phase2, ops.maximum(step - p2, 0)) * self.multiplier
        rate = ops.where(step < p2, first, second)
        return ops.where(step < self.start, ops.zeros_like(rate), rate)

    def get_config(self) -> dict[str, Any]:
        def ser(rate: Any) -> Any:
            if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
                return keras.optimizers.schedules.serialize(rate)
            return float(rate)

        return {"phase1": ser(self.phase1), "phase2": ser(self.phase2), "phase2_start": self.phase2_start,
                "start": self.start, "multiplier": self.multiplier}


def _rate(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        value = keras.optimizers.schedules.deserialize(value)
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Argument `{name}` must be a float or a LearningRateSchedule. Received: {value!r}") from None
    if not rate >= 0:
        raise ValueError(f"Argument `{name}` must be >= 0. Received: {name}={value!r}")
    return rate


__all__ = ["TransferLearningRate", "discriminative", "freeze", "group_learning_rates", "group_multipliers",
           "is_batch_norm", "layer_groups", "multi_optimizer", "reuse", "task_head", "scaled_rate",
           "configured_rate"]
