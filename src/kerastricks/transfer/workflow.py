"""The recipe workflow: ``[model] init_from`` and ``[transfer]`` phases, inside the trainer's one run.

:func:`kerastricks.build.build_components` calls :func:`build_pretrained_model` in its model phase and
:meth:`TransferPlan.optimizer` at the end of its optimizer phase; the trainer runs the rest as usual (one
``model.fit``, one run directory, checkpoints and ``--resume``). The phases are not separate fits: each
layer group gets its own optimizer in a ``keras.optimizers.MultiOptimizer`` whose rate is a
:class:`~kerastricks.transfer.core.TransferLearningRate` of the optimizer's own step counter, 0 while
the group is frozen. So the state of both phases lives in optimizer variables the compiled step sees,
a resumed run continues in the right phase from its checkpoint alone, and the run is bit-identical
across the phase boundary. What cannot be a rate:

- BatchNormalization layers of reused blocks run in inference mode from the start (``trainable =
  False`` on the layer; their scale and offset stay trainable variables, at rate 0 while frozen); with
  ``bn_frozen = false`` :class:`TransferPhases` switches a block's to training mode when it unfreezes
  (and retraces the step).
- Blocks that never unfreeze within the run (``freeze_epochs >= epochs``, or gradual unfreezing that
  does not reach them) are untrainable outright: no gradients are computed for them.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from kerastricks.errors import ConfigError
from kerastricks.transfer import core
from kerastricks.transfer.settings import APPLICATIONS


@dataclass
class TransferPlan:
    """How the layers of a transferred model train: groups, unfreeze epochs, rates."""

    groups: list[list[str]]  # reused blocks, lowest first, then the head (last)
    unfreeze_epoch: list[int]  # per group: first epoch it trains (the head: 0)
    multipliers: list[float]  # per group: its phase-2 multiplier
    settings: dict[str, Any]
    epochs: int
    batch_norms: list[list[Any]] = field(default_factory=list)  # per group: its BatchNormalization layers
    head_optimizer: Any = None

    @property
    def freeze_epochs(self) -> int:
        return min(int(self.settings.get("freeze_epochs", 0)), self.epochs)

    def phase(self, epoch: int) -> int:
        """1 while the reused blocks are frozen (0-based ``epoch``), else 2."""
        return 1 if epoch < self.freeze_epochs else 2

    def trains(self, group: int) -> bool:
        return self.unfreeze_epoch[group] < self.epochs

    def columns(self, epoch: int) -> dict[str, float]:
        """The ``metrics.csv`` columns of an epoch: ``phase``, ``unfrozen_blocks`` and the head's rate."""
        cols = {"phase": float(self.phase(epoch)),
                "unfrozen_blocks": float(sum(u <= epoch for u in self.unfreeze_epoch[:-1]))}
        if self.head_optimizer is not None:
            cols["learning_rate"] = float(keras.ops.convert_to_numpy(self.head_optimizer.learning_rate))
        return cols

    # ---- the optimizer phase ------------------------------------------------------
    def optimizer(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, recipe: Any,
                  base_lr: float, steps_per_epoch: int) -> tuple[Any, Any]:
        """``(MultiOptimizer, the head's rate)``: one clone of the recipe's built ``optimizer`` (techniques
        applied: AGC, clipping, ...) per trained group, each with its :class:`TransferLearningRate`."""
        from kerastricks.schedules import build_schedule

        settings, epochs = self.settings, self.epochs
        freeze = self.freeze_epochs

        def phase_rate(rate: float, length: int) -> Any:
            if length <= 0:
                return float(rate)
            return build_schedule(recipe.schedule["name"], recipe.options("schedule"), learning_rate=float(rate),
                                  steps_per_epoch=steps_per_epoch, epochs=length, file=recipe.source,
                                  validated=True)

        phase1 = phase_rate(base_lr, freeze)
        p2_lr = settings.get("phase2_learning_rate") or base_lr
        phase2 = phase_rate(p2_lr, epochs - freeze)
        return self.optimizer_for_rates(model, optimizer, phase1, phase2, steps_per_epoch)

    def optimizer_for_rates(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, phase1: Any,
                            phase2: Any, steps_per_epoch: int) -> tuple[Any, Any]:
        """As :meth:`optimizer`, with each phase's rate given (a float or a schedule of the phase's step)."""
        freeze = self.freeze_epochs
        groups, optimizers, head_rate = [], [], None
        for i, names in enumerate(self.groups):
            if not self.trains(i):
                continue
            rate = core.TransferLearningRate(phase1, phase2, phase2_start=freeze * steps_per_epoch,
                                             start=self.unfreeze_epoch[i] * steps_per_epoch,
                                             multiplier=self.multipliers[i])
            groups.append(names)
            optimizers.append(clone_with_rate(optimizer, rate, suffix=f"group{i}"))
            head_rate = rate
        self.head_optimizer = optimizers[-1]
        return core.multi_optimizer(model, groups, optimizers), head_rate

    def callback(self) -> TransferPhases:
        return TransferPhases(self)


def clone_with_rate(optimizer: keras.optimizers.Optimizer, rate: Any, *, suffix: str) -> keras.optimizers.Optimizer:
    """A fresh copy of ``optimizer`` (from its config; wrappers such as AGC included) running at ``rate``."""
    config = keras.saving.serialize_keras_object(optimizer)
    inner = config["config"]
    while "learning_rate" not in inner and isinstance(inner.get("optimizer"), dict):
        inner = inner["optimizer"]["config"]
    inner["learning_rate"] = keras.saving.serialize_keras_object(rate)
    config["config"]["name"] = f"{config['config'].get('name') or 'optimizer'}_{suffix}"
    return keras.saving.deserialize_keras_object(config)


class TransferPhases(keras.callbacks.Callback):
    """Switches the BatchNormalization layers of a block to training mode when the block unfreezes
    (``[transfer] bn_frozen = false``; with ``bn_frozen = true`` they stay in inference mode and this
    does nothing). Holds no state: what it sets follows from the epoch, so a resumed run sets the same."""

    def __init__(self, plan: TransferPlan) -> None:
        super().__init__()
        self.plan = plan

    def on_epoch_begin(self, epoch, logs=None):
        if self.plan.settings.get("bn_frozen", True):
            return
        changed = False
        for group, layers in enumerate(self.plan.batch_norms):
            training = self.plan.trains(group) and epoch >= self.plan.unfreeze_epoch[group]
            for layer in layers:
                if layer.trainable != training:
                    layer.trainable = training
                    changed = True
        if changed:  # BatchNormalization reads `trainable` when traced: trace the step again
            self.model.make_train_function(force=True)


# ---- the model phase ------------------------------------------------------------------
def load_source(init_from: str, weights_file: str | None, input_shape: tuple[int, ...],
                file: str | None) -> tuple[keras.Model, bool]:
    """The model named by ``[model] init_from``, and whether it is headless (an ``applications:`` model)."""
    if init_from.startswith(APPLICATIONS):
        name = init_from[len(APPLICATIONS):].strip()
        names = [n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n))]
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            raise ConfigError("unknown keras.applications model", file=file, key="model.init_from",
                              expected=f"one of {', '.join(names)}", received=init_from,
                              hint=f"did you mean 'applications:{close[0]}'?" if close else None)
        try:
            model = getattr(keras.applications, name)(include_top=False, weights=None, input_shape=input_shape)
        except ValueError as exc:
            raise ConfigError(f"cannot be built for the data's input shape ({_first_line(exc)})", file=file,
                              key="model.init_from", expected=f"an architecture that accepts {input_shape}",
                              received=init_from) from None
        try:
            with warnings.catch_warnings():  # Keras warns per layer before it raises: the one line says it
                warnings.simplefilter("ignore")
                model.load_weights(weights_file)
        except Exception as exc:  # a file of another architecture or input shape
            raise ConfigError(f"does not match applications:{name} built for input {input_shape} "
                              f"({type(exc).__name__}: {_first_line(exc)})", file=file, key="model.weights_file",
                              expected=f"weights saved from keras.applications.{name}(include_top=False, "
                              f"input_shape={input_shape})", received=weights_file) from None
        return model, True
    from kerastricks.rundir import MODEL_FILE

    path = Path(init_from).expanduser()
    if path.is_dir():
        path = path / MODEL_FILE
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ConfigError(f"not loadable ({type(exc).__name__}: {_first_line(exc)})", file=file,
                          key="model.init_from", expected="a model saved by keras (model.keras)",
                          received=init_from) from None
    have = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if have != tuple(input_shape) and not _fits(have, tuple(input_shape)):
        raise ConfigError("the model's input shape does not match the data", file=file, key="model.init_from",
                          expected=f"a model taking {tuple(input_shape)} (the data's shape)",
                          received=f"{init_from} taking {have}")
    return model, False


def _fits(have: tuple | None, want: tuple) -> bool:
    return have is not None and len(have) == len(want) and all(h is None or h == w for h, w in zip(have, want))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def build_pretrained_model(recipe: Any, dataset: Any) -> tuple[keras.Model, TransferPlan]:
    """The model of a recipe with ``[model] init_from``: the source's reused layers, a new head for the
    dataset's task, and the plan of its phases (every layer trainable from the start when the recipe
    has no ``[transfer]`` section)."""
    file, spec = recipe.source, recipe.model
    source, headless = load_source(spec["init_from"], spec.get("weights_file"), tuple(dataset.input_shape), file)
    reuse = spec.get("reuse", "all_but_head")
    up_to = None if reuse == "all_but_head" else reuse[len("up_to:"):].strip()
    if up_to is None and headless:
        up_to = source.layers[-1].name
    names = [layer.name for layer in source.layers]
    if up_to is not None and up_to not in names:
        close = difflib.get_close_matches(up_to, names, n=1, cutoff=0.5)
        raise ConfigError(f"no layer '{up_to}' in {spec['init_from']}", file=file, key="model.reuse",
                          expected=f"up_to:<one of its {len(names)} layers: {', '.join(names[:12])}"
                                   f"{', ...' if len(names) > 12 else ''}>", received=reuse,
                          hint=f"did you mean 'up_to:{close[0]}'?" if close else None)
    try:
        backbone = core.reuse(source, up_to=up_to)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, key="model.reuse", received=reuse) from None
    reused = [layer.name for layer in backbone.layers]
    head_name = "logits" if "logits" not in reused else "transfer_logits"
    outputs = core.task_head(backbone.output, dataset.output_dim, name=head_name)
    model = keras.Model(backbone.inputs, outputs, name=f"{source.name}_transfer")
    groups = core.layer_groups(backbone)
    head = [layer.name for layer in model.layers if layer.name not in set(reused)]
    plan = plan_phases(model, groups + [head], recipe.transfer, int(recipe.train.epochs))
    return model, plan


def plan_phases(model: keras.Model, groups: list[list[str]], settings: dict[str, Any], epochs: int) -> TransferPlan:
    """Unfreeze epochs and multipliers of ``groups`` (reused blocks lowest first, the head last), and
    the matching ``trainable`` flags on ``model``'s layers."""
    n = len(groups) - 1
    if not settings:  # plain fine-tuning: everything trains from the first step
        return TransferPlan(groups=groups, unfreeze_epoch=[0] * (n + 1), multipliers=[1.0] * (n + 1),
                            settings={}, epochs=epochs, batch_norms=[[] for _ in groups])
    freeze = int(settings["freeze_epochs"])
    every = int(settings.get("unfreeze_every", 1))
    gradual = settings.get("unfreeze") == "gradual"
    unfreeze = [freeze + ((n - 1 - g) * every if gradual else 0) for g in range(n)] + [0]
    plan = TransferPlan(groups=groups, unfreeze_epoch=unfreeze,
                        multipliers=core.group_multipliers(n + 1, float(settings.get("lr_mult", 1.0))),
                        settings=dict(settings), epochs=epochs)
    for g, names in enumerate(groups):
        norms = []
        for name in names:
            layer = model.get_layer(name)
            if g == n:
                continue
            if not plan.trains(g):
                layer.trainable = False  # frozen for the whole run: no gradients at all
            elif core.is_batch_norm(layer):
                layer.trainable = False  # inference mode ...
                for var in layer.weights:  # ... while gamma and beta follow the block's rate
                    if var is getattr(layer, "gamma", None) or var is getattr(layer, "beta", None):
                        var.trainable = True
                norms.append(layer)
        plan.batch_norms.append(norms)
    return plan


def transfer_report(plan: TransferPlan, steps_per_epoch: int) -> dict[str, Any]:
    """What ``report.json`` records about the phases (under ``techniques.transfer``)."""
    return {"blocks": len(plan.groups) - 1, "freeze_epochs": plan.freeze_epochs,
            "unfreeze_epochs": [u if u < plan.epochs else None for u in plan.unfreeze_epoch[:-1]],
            "multipliers": [float(f"{m:.6g}") for m in plan.multipliers],
            "phase2_start_step": plan.freeze_epochs * steps_per_epoch if plan.settings else 0,
            "settings": plan.settings}


__all__ = ["TransferPhases", "TransferPlan", "build_pretrained_model", "clone_with_rate", "load_source",
           "plan_phases", "transfer_report"]
