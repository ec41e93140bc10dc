"""Recipe keys of the transfer workflow, as signatures (validated without importing Keras).

``[model] init_from / reuse / weights_file`` say where the reused layers come from; ``[transfer]`` says
how the two phases run. :func:`split_model_keys` and :func:`transfer_section` are called by the recipe
schema (:mod:`kerastricks.recipes.schema`), :func:`check_transfer` with the cross-section checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import Field

from kerastricks.errors import ConfigError
from kerastricks.validation import NonNegativeInt, PositiveInt, validate_options

#: ``[model]`` keys of the transfer workflow.
MODEL_KEYS = ("init_from", "reuse", "weights_file")
#: ``model.name`` of a recipe whose model comes from ``init_from`` (the zoo's builders are not used).
PRETRAINED = "pretrained"
APPLICATIONS = "applications:"
#: Schedules that drive the rate through callbacks on the (single) optimizer: not usable per phase.
CALLBACK_SCHEDULES = ("plateau",)
#: Techniques that act on the single optimizer as a whole (weight averages, accumulation).
UNSUPPORTED_TECHNIQUES = ("ema", "gradient_accumulation")


def model_transfer_settings(*, init_from: str, reuse: str = "all_but_head",
                            weights_file: Optional[str] = None) -> None:
    """``[model]`` keys of a model that reuses trained layers.

    Args:
        init_from: A kerastricks run directory (its ``model.keras``), a ``.keras`` file, or
            ``"applications:<Name>"`` (a ``keras.applications`` architecture, built without its top
            for the data's input shape; its weights come from ``weights_file``, never a download).
        reuse: ``"all_but_head"`` (every layer but the last; an ``applications:`` model has no top, so
            all of it) or ``"up_to:<layer name>"`` (that layer and everything below it). A new head
            matching the task (global average pooling over spatial axes, then a Dense ``logits``
            layer) goes on top.
        weights_file: Only with ``applications:``: a local ``.weights.h5`` file saved from the same
            architecture built the same way (``include_top=False``, the same input shape).
    """


def transfer_settings(
    *,
    freeze_epochs: NonNegativeInt = 1,
    unfreeze: Literal["all", "gradual"] = "all",
    unfreeze_every: PositiveInt = 1,
    lr_mult: Annotated[float, Field(ge=1)] = 1.0,
    phase2_learning_rate: Optional[Annotated[float, Field(gt=0)]] = None,
    bn_frozen: bool = True,
) -> None:
    """``[transfer]`` keys: the two phases of one fine-tuning run.

    Args:
        freeze_epochs: Phase 1: the reused layers are frozen (their rate is 0 and their
            BatchNormalization layers run in inference mode) while the new head trains at
            ``optimizer.learning_rate``. ``>= train.epochs`` keeps them frozen for the whole run (a
            linear probe: they are then untrainable, so their gradients are not even computed).
        unfreeze: ``"all"``: every reused block trains from phase 2 on; ``"gradual"``: one more
            block, from the top, every ``unfreeze_every`` epochs (ULMFiT).
        unfreeze_every: Epochs between two unfrozen blocks (``unfreeze = "gradual"``).
        lr_mult: Discriminative rates in phase 2: the lowest reused block gets
            ``phase2_learning_rate / lr_mult``, the head ``phase2_learning_rate``, the blocks between
            a geometric spread. 1 gives every block the same rate.
        phase2_learning_rate: Rate of phase 2 (default: ``optimizer.learning_rate``). The recipe's
            ``[schedule]`` runs once per phase, from its start, over the phase's epochs.
        bn_frozen: Keep the reused BatchNormalization layers in inference mode after unfreezing too
            (Keras's advice for fine-tuning: their statistics came from the source data). Their scale
            and offset train with their block either way.
    """


def _is_run_dir(path: Path) -> bool:
    from kerastricks.rundir import MODEL_FILE

    return (path / MODEL_FILE).is_file()


def split_model_keys(table: dict[str, Any], file: str | None) -> dict[str, Any] | None:
    """Take the transfer keys out of a ``[model]`` table (in place) and validate them.

    Returns ``None`` when ``init_from`` is absent (then ``reuse`` / ``weights_file`` are errors), else
    the resolved keys; the rest of the table must then be empty (``name = "pretrained"`` allowed).
    """
    keys = {k: table.pop(k) for k in MODEL_KEYS if k in table}
    if "init_from" not in keys:
        if keys:
            key = next(iter(keys))
            raise ConfigError(f"model.{key} needs model.init_from", file=file, key=f"model.{key}",
                              expected="model.init_from = a run directory, a .keras file or 'applications:<Name>'",
                              received=keys[key])
        return None
    opts = validate_options(model_transfer_settings, keys, section="model", file=file, fill_defaults=True)
    if table.get("name") == PRETRAINED:
        table.pop("name")
    if table:
        key = next(iter(table))
        raise ConfigError("has no effect with model.init_from (the model comes from it)", file=file,
                          key=f"model.{key}", expected=f"only {', '.join(MODEL_KEYS)}", received=table[key])
    check_model_keys(opts, file)
    return {"name": PRETRAINED, **opts}


def check_model_keys(opts: dict[str, Any], file: str | None) -> None:
    """The checks that need no Keras: the source exists, ``reuse`` is well-formed, the weights file fits."""
    source, reuse, weights = opts["init_from"], opts["reuse"], opts.get("weights_file")
    if reuse != "all_but_head" and (not reuse.startswith("up_to:") or not reuse[len("up_to:"):].strip()):
        raise ConfigError(file=file, key="model.reuse", expected="'all_but_head' or 'up_to:<layer name>'",
                          received=reuse)
    if source.startswith(APPLICATIONS):
        name = source[len(APPLICATIONS):].strip()
        if not name:
            raise ConfigError("names no architecture", file=file, key="model.init_from",
                              expected="'applications:<Name>', e.g. 'applications:MobileNetV3Small'", received=source)
        if weights is None:
            raise ConfigError("an applications: model needs local weights (nothing is downloaded)", file=file,
                              key="model.weights_file", expected="a .weights.h5 file saved from the same "
                              "architecture (include_top=False)", received="nothing")
        wpath = Path(weights).expanduser()
        if not wpath.is_file():
            raise ConfigError("weights file not found", file=file, key="model.weights_file",
                              expected="an existing .weights.h5 file", received=weights,
                              hint=None if wpath.is_absolute() else f"relative paths start at {os.getcwd()}")
        if not str(weights).endswith(".weights.h5"):
            raise ConfigError(file=file, key="model.weights_file", expected="a file named *.weights.h5 "
                              "(keras model.save_weights)", received=weights)
        return
    if weights is not None:
        raise ConfigError("weights_file is only for applications: models (a run or .keras file holds its "
                          "weights)", file=file, key="model.weights_file", expected="no weights_file",
                          received=weights)
    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError("not found", file=file, key="model.init_from",
                          expected="a kerastricks run directory, a .keras file or 'applications:<Name>'",
                          received=source,
                          hint=None if path.is_absolute() else f"relative paths start at {os.getcwd()}")
    if path.is_dir() and not _is_run_dir(path):
        raise ConfigError("not a finished kerastricks run (no model.keras)", file=file, key="model.init_from",
                          expected="a run directory holding model.keras", received=source)
    if path.is_file() and path.suffix != ".keras":
        raise ConfigError(file=file, key="model.init_from", expected="a .keras file (keras model.save)",
                          received=source)


def transfer_section(table: Any, model: dict[str, Any], file: str | None) -> dict[str, Any]:
    """Validate ``[transfer]`` (``table`` as parsed; ``None`` when absent) against the resolved model."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(file=file, key="transfer", expected="a table", received=table)
    if model.get("name") != PRETRAINED:
        raise ConfigError("[transfer] needs a model to transfer from", file=file, key="transfer",
                          expected="model.init_from = a run directory, a .keras file or 'applications:<Name>'",
                          received="no model.init_from")
    return validate_options(transfer_settings, dict(table), section="transfer", file=file, fill_defaults=True)


def check_transfer(recipe: Any) -> None:
    """Cross-section checks of a recipe with ``[transfer]`` phases."""
    if not recipe.transfer:
        return
    file = recipe.source
    if recipe.schedule["name"] in CALLBACK_SCHEDULES or (
            recipe.schedule["name"] == "one_cycle" and recipe.schedule.get("cycle_momentum")):
        raise ConfigError("[transfer] phases give each layer group its own optimizer; this schedule drives one "
                          "optimizer through callbacks", file=file, key="schedule.name",
                          expected="a schedule object (constant, cosine, one_cycle with cycle_momentum = false, ...)",
                          received=recipe.schedule["name"])
    for name in UNSUPPORTED_TECHNIQUES:
        if name in recipe.techniques:
            raise ConfigError("not supported with [transfer] phases (one optimizer per layer group)", file=file,
                              key=f"techniques.{name}", expected="no such technique with [transfer]",
                              received="enabled")
    if recipe.train.on_nan == "rollback":
        raise ConfigError("rollbacks are not supported with [transfer] phases", file=file, key="train.on_nan",
                          expected="'stop'", received="rollback")
    epochs, freeze = int(recipe.train.epochs), int(recipe.transfer["freeze_epochs"])
    warmup = float(recipe.schedule.get("warmup_epochs", 0.0) or 0.0)
    for phase, length in (("phase 1", min(freeze, epochs)), ("phase 2", max(epochs - freeze, 0))):
        if length and warmup > length:
            raise ConfigError(f"the warmup would outlast {phase} ({length} epochs)", file=file,
                              key="schedule.warmup_epochs", expected=f"at most {length}", received=warmup)


__all__ = ["MODEL_KEYS", "PRETRAINED", "check_transfer", "model_transfer_settings", "split_model_keys",
           "transfer_section", "transfer_settings"]
