"""Recipe validation: a TOML recipe becomes a fully resolved :class:`Recipe`.

Sections and what validates them:

- ``[data]``: ``name`` (a registered dataset, or ``npz:PATH``, ``folder:PATH``,
  ``csv:PATH``), the trainer's data keys below, and the loader's own options.
- ``[model]``: ``name`` and the model builder's options.
- ``[optimizer]``: ``name`` and the optimizer's constructor arguments.
- ``[schedule]``: ``name`` and the schedule builder's options.
- ``[loss]``: ``name`` and the loss builder's options.
- ``[train]``: the trainer's settings below.
- ``[techniques.<name>]``: one table per enabled technique (``enabled = false``
  turns one off) with the technique's options.

Every component's signature is its schema (see :mod:`kerastricks.validation`);
defaults are filled in, so the resolved recipe says everything a run used.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field

from kerastricks.errors import ConfigError
from kerastricks.validation import Fraction, NonNegativeInt, PositiveInt, Seed, validate_options

SECTIONS = ("data", "model", "optimizer", "schedule", "loss", "train", "techniques")
# [transfer]: fine-tuning phases (kerastricks.transfer); [export]: LiteRT export after training (kerastricks.compress)
TOP_LEVEL = ("name", "description") + SECTIONS + ("transfer", "export")


# ---- the trainer's own settings, as signatures ----------------------------------
def data_settings(  # ``name`` (the dataset) is checked against the dataset registry
    *,
    validation_split: Fraction = 0.1,
    normalize: Literal["auto", "standard", "minmax", "scale255", "none"] = "auto",
    shuffle_buffer: Optional[PositiveInt] = None,
    long_tail: Optional[dict] = None,
    augment: Union[str, dict, None] = None,
    threads: Optional[PositiveInt] = None,
    classes: Optional[list[Annotated[int, Field(ge=0)]]] = None,
    train_examples: Optional[PositiveInt] = None,
) -> None:
    """Trainer-level ``[data]`` keys.

    Args:
        validation_split: Fraction of the training set held out for validation
            (stratified, fixed by ``train.seed``); 0 disables validation.
        normalize: Input normalization (statistics from the training split only).
        shuffle_buffer: Shuffle buffer size; default: the whole training set.
        long_tail: ``{imbalance_ratio = 100}``: make the training split
            long-tailed (CIFAR-LT construction, see
            :func:`kerastricks.data.make_long_tailed`); validation and test
            stay balanced.
        augment: On-the-fly augmentation of training examples, a name
            (``"mnist1d"``, ``"images"``, ``"none"``) or a table
            ``{name = "mnist1d", shift = 4}`` (see :mod:`kerastricks.data.augment`).
        threads: Threads of the training input pipeline (a private ``tf.data``
            thread pool); default: ``tf.data``'s shared pool, sized to all
            cores. Set it to keep the pipeline off cores the training step
            needs, or to measure how input-bound a run is.
        classes: Keep only these classes of a classification dataset (at least two, distinct),
            relabelled ``0..k-1`` in the order given, names kept; every split is filtered (see
            :func:`kerastricks.data.subsets.select_classes`).
        train_examples: Keep a stratified subset of this many training examples, drawn with
            ``train.seed`` after the validation split (validation and test untouched).
    """


def long_tail_settings(*, imbalance_ratio: Annotated[float, Field(ge=1)], n_max: Optional[PositiveInt] = None) -> None:
    """``[data.long_tail]`` keys.

    Args:
        imbalance_ratio: Head-to-tail count ratio ``n_max / n_min`` >= 1.
        n_max: Examples of the head class; default: the smallest class count
            left after the validation split.
    """


def train_settings(
    *,
    epochs: PositiveInt = 10,
    batch_size: PositiveInt = 32,
    seed: Seed = 0,
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"] = "float32",
    jit_compile: Union[bool, Literal["auto"]] = "auto",
    steps_per_execution: PositiveInt = 1,
    threads: Union[PositiveInt, Literal["auto"]] = "auto",
    monitor: str = "auto",
    target: Optional[dict] = None,
    checkpoint_every: PositiveInt = 1,
    tensorboard: bool = True,
    plots: bool = True,
    deterministic: bool = True,
    on_nan: Literal["stop", "rollback"] = "stop",
    nan_lr_factor: Annotated[float, Field(gt=0, lt=1)] = 0.1,
    nan_retries: NonNegativeInt = 3,
    backend: Optional[Literal["tensorflow", "jax", "torch"]] = None,
    distribute: Literal["none", "mirrored", "data_parallel"] = "none",
    devices: Union[PositiveInt, Literal["all"]] = "all",
    lr_scaling: Literal["none", "linear", "sqrt"] = "none",
    ensemble: Annotated[int, Field(ge=1, le=100)] = 1,
    ensemble_method: Literal["mean", "vote", "logit_mean"] = "mean",
) -> None:
    """``[train]`` keys.

    Args:
        epochs: Number of passes over the training data.
        batch_size: Examples per batch.
        seed: Seed of weights, splits and shuffling; same seed gives the same metrics on CPU.
        precision: Keras dtype policy; ``"auto"``: ``mixed_bfloat16`` on GPUs
            with compute capability >= 8.0 and on CPUs with AVX512-BF16/AMX,
            ``mixed_float16`` (with loss scaling) on older GPUs, else
            ``float32``. The report records the policy and the reason.
        jit_compile: XLA compilation; ``"auto"`` decides per backend: on for
            JAX (un-jitted JAX is far slower), on GPUs for TensorFlow (no gain
            was measured on CPUs), off for PyTorch.
        steps_per_execution: Batches per compiled call (fewer Python round
            trips); PyTorch runs one batch per call, so it is 1 there (the
            report says so).
        threads: Intra-op threads of the backend (TensorFlow: intra and
            inter-op; PyTorch: ``torch.set_num_threads``; JAX: ``XLA_FLAGS``
            before JAX starts); ``"auto"`` keeps the backend's default (one
            per core). Small models on few cores can train faster with 1
            (measured on MNIST-1D, see docs/guide.md).
        monitor: Metric that picks the best epoch (``model.keras``);
            ``"auto"``: ``val_accuracy`` for classification, ``val_loss``
            otherwise (``accuracy``/``loss`` without validation data);
            ``"last"``: keep the final weights (no selection).
        target: ``{metric = "val_accuracy", value = 0.98}``: records the wall
            time at which the metric first reaches the value (time-to-accuracy);
            add ``stop = true`` to end training there.
        checkpoint_every: Epochs between resumable checkpoints.
        tensorboard: Write TensorBoard logs.
        plots: Write PNG plots.
        deterministic: Deterministic ops (TensorFlow op determinism, PyTorch
            deterministic algorithms; JAX is deterministic on CPU): same seed ->
            same numbers.
        on_nan: What a non-finite loss or weight does: ``"stop"`` ends the run
            (exit code 3, no model written), ``"rollback"`` restores the last
            finite checkpoint, multiplies the learning rate by ``nan_lr_factor``
            and continues, at most ``nan_retries`` times.
        nan_lr_factor: Learning-rate multiplier applied at each rollback, in (0, 1).
        nan_retries: Rollbacks allowed before the run stops as diverged.
        backend: Keras backend of the run (``"tensorflow"``, ``"jax"``,
            ``"torch"``); default: the ``KERAS_BACKEND`` environment variable,
            else TensorFlow. Applied before Keras is imported.
        distribute: Data-parallel training: ``"mirrored"`` (TensorFlow's
            ``MirroredStrategy``, one host), ``"data_parallel"`` (JAX,
            ``keras.distribution.DataParallel``, one host or several processes:
            ``kerastricks train --workers N``); ``batch_size`` is the global batch.
            See docs/distributed.md.
        devices: Devices per process under a distribution mode; ``"all"``: every
            GPU, or one CPU device. On a CPU, N > 1 makes N logical devices.
        lr_scaling: Multiply the learning rate by the number of replicas
            (``"linear"``, Goyal et al. 2017, with ``schedule.warmup_epochs``) or
            its square root (``"sqrt"``).
        ensemble: Members to train (``kerastricks train``): ``N > 1`` trains the
            recipe with seeds ``seed .. seed + N - 1``, each in its own process,
            then averages them into one model (:mod:`kerastricks.ensemble`).
        ensemble_method: How the members' predictions are combined: ``"mean"``
            (probabilities), ``"vote"`` or ``"logit_mean"``.
    """


def target_settings(
    *, metric: str = "val_accuracy", value: float, mode: Literal["auto", "max", "min"] = "auto", stop: bool = False
) -> None:
    """``[train.target]`` keys.

    Args:
        metric: A logged metric (``val_accuracy``, ``val_loss``, ``accuracy``...).
        value: Threshold.
        mode: ``max`` (reach >= value), ``min`` (reach <= value) or ``auto``
            (``min`` for losses and errors, else ``max``).
        stop: End training at the epoch that reaches the target
            (time-to-accuracy runs; ``train.epochs`` is then the budget).
    """


def metric_mode(metric: str, mode: str = "auto") -> str:
    """``"min"`` for losses/errors, ``"max"`` otherwise (unless given)."""
    if mode != "auto":
        return mode
    name = metric.removeprefix("val_")
    return "min" if ("loss" in name or "error" in name or name in ("mae", "mse")) else "max"


#: Metrics every run logs per epoch (``val_`` versions with validation data):
#: the loss, plus accuracy for classification or mean absolute error for regression.
LOGGED_METRICS = ("loss", "accuracy", "mae")

DATA_KEYS = ("name", "validation_split", "normalize", "shuffle_buffer", "long_tail", "augment", "threads",
             "classes", "train_examples")


@dataclass(frozen=True)
class TargetSettings:
    """``[train.target]``, validated."""

    metric: str
    value: float
    mode: str = "auto"
    stop: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _MappingView:
    """Read-only mapping access (``settings["epochs"]``) next to attribute access, for older callers."""

    def __getitem__(self, key: str) -> Any:
        try:
            value = getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None
        return value.to_dict() if isinstance(value, TargetSettings) else value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {k: self[k] for k in self.keys()}


@dataclass(frozen=True)
class TrainSettings(_MappingView):
    """``[train]``, validated once into real types (see :func:`train_settings` for each key)."""

    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    precision: str = "float32"
    jit_compile: Union[bool, str] = "auto"
    steps_per_execution: int = 1
    threads: Union[int, str] = "auto"
    monitor: str = "auto"
    target: Optional[TargetSettings] = None
    checkpoint_every: int = 1
    tensorboard: bool = True
    plots: bool = True
    deterministic: bool = True
    on_nan: str = "stop"
    nan_lr_factor: float = 0.1
    nan_retries: int = 3
    backend: Optional[str] = None
    distribute: str = "none"
    devices: Union[int, str] = "all"
    lr_scaling: str = "none"
    ensemble: int = 1
    ensemble_method: str = "mean"


@dataclass
class Recipe:
    """A validated recipe with every default filled in.

    Attributes mirror the TOML sections; ``techniques`` holds only the enabled
    techniques, in recipe order. ``source`` is the file (or ``preset:NAME``)
    it came from, used in error messages.
    """

    name: str
    description: str
    data: dict[str, Any]
    model: dict[str, Any]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    loss: dict[str, Any]
    train: TrainSettings
    techniques: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None
    transfer: dict[str, Any] = field(default_factory=dict)  # [transfer] (kerastricks.transfer.settings)
    export: Optional[dict[str, Any]] = None  # [export], validated (kerastricks.compress.export_settings)

    # ---- views --------------------------------------------------------------
    @property
    def data_options(self) -> dict[str, Any]:
        """The dataset loader's own options (``[data]`` minus the trainer keys)."""
        return {k: v for k, v in self.data.items() if k not in DATA_KEYS}

    def options(self, section: str) -> dict[str, Any]:
        """A component section without its ``name``."""
        return {k: v for k, v in getattr(self, section).items() if k != "name"}

    @property
    def has_validation(self) -> bool:
        return float(self.data.get("validation_split", 0.0)) > 0

    def require_metric(self, metric: str, *, key: str) -> None:
        """Raise ``ConfigError`` if ``metric`` is not one a run logs, or needs
        validation data the recipe lacks."""
        if metric.removeprefix("val_") not in LOGGED_METRICS:
            known = ", ".join(f"{p}{m}" for p in ("", "val_") for m in LOGGED_METRICS)
            raise ConfigError("unknown metric", file=self.source, key=key, expected=f"one of {known}",
                              received=metric)
        if metric.startswith("val_") and not self.has_validation:
            raise ConfigError(
                f"metric '{metric}' needs validation data",
                file=self.source,
                key=key,
                expected="data.validation_split > 0 or a training metric (e.g. 'accuracy')",
                received=f"data.validation_split = {self.data.get('validation_split')}",
            )

    def check_task(self, task: str) -> None:
        """Raise ``ConfigError`` if a metric the recipe watches is not logged for ``task`` (known once the
        data has loaded): ``accuracy`` is logged for classification, ``mae`` for regression."""
        logged = "accuracy" if task == "classification" else "mae"
        watched = [("train.monitor", self.train.monitor), ("schedule.monitor", self.schedule.get("monitor"))]
        if self.train.target is not None:
            watched.append(("train.target.metric", self.train.target.metric))
        for key, metric in watched:
            if isinstance(metric, str) and metric.removeprefix("val_") in ("accuracy", "mae") \
                    and metric.removeprefix("val_") != logged:
                raise ConfigError(f"metric '{metric}' is not logged for {task} data", file=self.source, key=key,
                                  expected=f"loss or {logged} (with val_ for validation data)", received=metric)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (TOML-ready: keys whose value is ``None`` are dropped)."""

        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items() if v is not None}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return clean(
            {
                "name": self.name,
                "description": self.description,
                "data": self.data,
                "model": self.model,
                "optimizer": self.optimizer,
                "schedule": self.schedule,
                "loss": self.loss,
                "train": self.train.to_dict(),
                "techniques": self.techniques,
                **({"transfer": self.transfer} if self.transfer else {}),
                "export": self.export,
            }
        )

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def build_techniques(self) -> list[Any]:
        """Fresh technique instances from the validated options (no second validation)."""
        from kerastricks.techniques import TECHNIQUES

        return [TECHNIQUES.build(name, opts, section=f"techniques.{name}", file=self.source, validated=True)
                for name, opts in self.techniques.items()]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and self.to_dict() == other.to_dict()


def _check_table(value: Any, key: str, file: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(file=file, key=key, expected="a table", received=value)
    return dict(value)


def _component(section: str, table: dict[str, Any], default_name: str, registry, file: str | None,
               exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    name = table.pop("name", default_name)
    if not isinstance(name, str):
        raise ConfigError(file=file, key=f"{section}.name", expected="a string", received=name)
    entry, options = registry.validate(name, table, section=section, file=file, exclude=exclude)
    return {"name": entry.name, **options}


def recipe_from_dict(data: dict[str, Any], *, source: str | None = None) -> Recipe:
    """Validate a recipe given as nested dicts (parsed TOML) and resolve defaults.

    Raises:
        ConfigError: one line naming ``source``, the key, what was expected and
            what was received.
    """
    try:
        return _recipe_from_dict(data, source)
    except ConfigError as exc:
        if exc.file is None and source is not None:
            raise exc.with_context(file=source) from None
        raise


def _recipe_from_dict(data: dict[str, Any], source: str | None) -> Recipe:
    from kerastricks.data.datasets import check_dataset_path, resolve_dataset
    from kerastricks.losses import CONTEXT_ARGS as LOSS_CONTEXT
    from kerastricks.losses import LOSSES
    from kerastricks.models import MODELS
    from kerastricks.optimizers import OPTIMIZERS
    from kerastricks.schedules import CONTEXT_ARGS as SCHEDULE_CONTEXT
    from kerastricks.schedules import SCHEDULES
    from kerastricks.techniques import TECHNIQUES

    file = source
    raw = copy.deepcopy(data)
    for key in raw:
        if key not in TOP_LEVEL:
            close = difflib.get_close_matches(key, TOP_LEVEL, n=1, cutoff=0.5)
            raise ConfigError(
                "unknown key",
                file=file,
                key=key,
                expected=f"one of {', '.join(TOP_LEVEL)}",
                received=key,
                hint=f"did you mean '{close[0]}'?" if close else None,
            )
    name = raw.get("name", "")
    description = raw.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise ConfigError(file=file, key=key, expected="a string", received=value)

    # [train]
    train_table = _check_table(raw.get("train"), "train", file)
    target = train_table.pop("target", None)
    train = validate_options(train_settings, train_table, section="train", file=file, fill_defaults=True)
    if target is not None:
        target = validate_options(
            target_settings, _check_table(target, "train.target", file), section="train.target", file=file,
            fill_defaults=True,
        )
    train.pop("target", None)
    train = TrainSettings(**train, target=None if target is None else TargetSettings(**target))

    # [data]
    data_table = _check_table(raw.get("data"), "data", file)
    fixed = {k: data_table.pop(k) for k in list(data_table) if k in DATA_KEYS}
    data_name = fixed.pop("name", "mnist1d")
    if not isinstance(data_name, str):
        raise ConfigError(file=file, key="data.name", expected="a string", received=data_name)
    data_cfg = {"name": data_name}
    long_tail = fixed.pop("long_tail", None)
    data_cfg.update(validate_options(data_settings, fixed, section="data", file=file, fill_defaults=True))
    if long_tail is not None:
        long_tail = validate_options(long_tail_settings, _check_table(long_tail, "data.long_tail", file),
                                     section="data.long_tail", file=file, fill_defaults=True)
    data_cfg["long_tail"] = long_tail
    if data_cfg.get("augment") is not None:
        from kerastricks.data.augment import augmentation_spec

        spec = augmentation_spec(data_cfg["augment"], file=file)
        data_cfg["augment"] = None if spec["name"] == "none" else spec
    loader, path = resolve_dataset(data_cfg["name"], file=file)
    if path is not None:
        check_dataset_path(loader, path)  # a missing data file is one line before anything heavy
    loader_opts = validate_options(loader.obj, data_table, section="data", file=file, fill_defaults=True,
                                   exclude=("path",))
    data_cfg.update(loader_opts)

    from kerastricks.models.constraints import split_shared_model_options
    from kerastricks.transfer.settings import split_model_keys, transfer_section

    model_table = _check_table(raw.get("model"), "model", file)
    model = split_model_keys(model_table, file)  # [model] init_from: the model comes from a trained one
    if model is None:
        model_shared = split_shared_model_options(model_table, file=file)  # max_norm: every model takes it
        model = _component("model", model_table, "mlp", MODELS, file,
                           exclude=("input_shape", "num_outputs", "task", "kernel_regularizer"))
        model.update(model_shared)
        from kerastricks.models import check_model_choices

        check_model_choices(model, file=file)
    transfer = transfer_section(raw.get("transfer"), model, file)
    from kerastricks.optimizers.registry import split_wrapper_options

    optimizer_table = _check_table(raw.get("optimizer"), "optimizer", file)
    optimizer_wrappers = split_wrapper_options(optimizer_table, file=file)  # lookahead = {...}
    optimizer = _component("optimizer", optimizer_table, "adam", OPTIMIZERS, file)
    optimizer.update(optimizer_wrappers)
    schedule = _component("schedule", _check_table(raw.get("schedule"), "schedule", file), "constant",
                          SCHEDULES, file, exclude=SCHEDULE_CONTEXT)
    loss = _component("loss", _check_table(raw.get("loss"), "loss", file), "auto", LOSSES, file,
                      exclude=LOSS_CONTEXT)

    techniques: dict[str, dict[str, Any]] = {}
    for tname, table in _check_table(raw.get("techniques"), "techniques", file).items():
        table = _check_table(table, f"techniques.{tname}", file)
        enabled = table.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(file=file, key=f"techniques.{tname}.enabled", expected="true or false", received=enabled)
        if tname in REMOVED_TECHNIQUES:
            raise ConfigError(f"technique '{tname}' was removed", file=file, key=f"techniques.{tname}",
                              hint=REMOVED_TECHNIQUES[tname])
        try:
            entry = TECHNIQUES.get(tname, key=f"techniques.{tname}")
        except ConfigError as exc:
            raise exc.with_context(file=file) from None
        opts = validate_options(entry.obj, table, section=f"techniques.{tname}", file=file, fill_defaults=True)
        if enabled:
            techniques[entry.name] = opts

    recipe = Recipe(
        name=name or _default_name(data_cfg["name"], model["name"]),
        description=description,
        data=data_cfg,
        model=model,
        optimizer=optimizer,
        schedule=schedule,
        loss=loss,
        train=train,
        techniques=techniques,
        source=source,
        transfer=transfer,
    )
    if raw.get("export") is not None:
        from kerastricks.compress.settings import check_export_section

        recipe.export = check_export_section(raw["export"], recipe, file)
    _cross_checks(recipe)
    for technique in recipe.build_techniques():
        try:
            technique.check(recipe)
        except ConfigError as exc:
            raise exc.with_context(file=file) from None
    return recipe


#: Technique names that existed once, with what replaces them.
REMOVED_TECHNIQUES = {
    "reduce_lr_on_plateau": "use [schedule] name = 'plateau' (same options: monitor, factor, patience, "
                            "min_delta, cooldown, min_lr, mode)",
}


def _default_name(dataset: str, model: str) -> str:
    base = dataset.split(":", 1)[0]
    return f"{base}-{model}"


def _cross_checks(recipe: Recipe) -> None:
    """Checks that need more than one section: everything that would otherwise fail at the first step."""
    train = recipe.train
    file = recipe.source
    if train.monitor not in ("auto", "last"):
        recipe.require_metric(train.monitor, key="train.monitor")
    if train.target is not None:
        recipe.require_metric(train.target.metric, key="train.target.metric")
    if "monitor" in recipe.schedule:  # a schedule that watches a metric (plateau)
        recipe.require_metric(recipe.schedule["monitor"], key="schedule.monitor")
    from kerastricks.schedules import check_schedule, warmup_length

    check_schedule(recipe.schedule["name"], recipe.schedule, file=file)
    warmup_length(recipe.schedule.get("warmup_steps", 0), recipe.schedule.get("warmup_epochs", 0.0), 1)
    if recipe.schedule.get("warmup_epochs", 0.0) > train.epochs:
        raise ConfigError("the warmup would outlast the run", file=file, key="schedule.warmup_epochs",
                          expected=f"at most train.epochs ({train.epochs})", received=recipe.schedule["warmup_epochs"])
    if recipe.schedule["name"] == "one_cycle" and recipe.schedule.get("cycle_momentum"):
        opt = recipe.optimizer
        beta_1, momentum = opt.get("beta_1"), opt.get("momentum")
        ok = (isinstance(beta_1, (int, float)) and beta_1 > 0) or (isinstance(momentum, (int, float)) and momentum > 0)
        if not ok:
            has = (f"beta_1 = {beta_1}" if "beta_1" in opt else
                   f"momentum = {momentum}" if "momentum" in opt else "no momentum")
            raise ConfigError(
                "one-cycle momentum cycling needs an optimizer with momentum", file=file,
                key="schedule.cycle_momentum",
                expected="optimizer.momentum > 0 (sgd, rmsprop), an Adam-family optimizer (beta_1), "
                         "or schedule.cycle_momentum = false",
                received=f"optimizer '{opt['name']}' with {has}")
    if recipe.optimizer["name"] in NEEDS_POSITIVE_RATE:
        _check_rate_stays_positive(recipe, file)
    from kerastricks.distribute.config import check_recipe as check_distribution

    check_distribution(recipe)
    from kerastricks.transfer.settings import check_transfer

    check_transfer(recipe)
    from kerastricks.data.subsets import check_subset_keys

    check_subset_keys(recipe.data.get("classes"), file)


#: Optimizers whose update divides by the learning rate (Keras's FTRL): a rate of 0 gives NaN.
NEEDS_POSITIVE_RATE = ("ftrl",)


def _check_rate_stays_positive(recipe: Recipe, file: str | None) -> None:
    """Refuse a schedule that reaches a learning rate of exactly 0 (warmup from 0, decay to 0)."""
    sched = recipe.schedule
    found = None
    warmup = sched.get("warmup_steps", 0) or sched.get("warmup_epochs", 0.0)
    if warmup and sched.get("warmup_start_factor", 0.0) == 0:
        found = ("warmup_start_factor", 0.0, "> 0 (the warmup starts at warmup_start_factor x learning_rate)")
    for key in ("alpha", "end_factor"):
        if key in sched and sched[key] == 0:
            found = (key, sched[key], "> 0 (the rate decays to this fraction of learning_rate)")
    factors = sched.get("factors")
    if isinstance(factors, list) and any(f == 0 for f in factors):
        found = ("factors", factors, "factors > 0")
    if found is not None:
        key, value, expected = found
        raise ConfigError(f"optimizer '{recipe.optimizer['name']}' divides by the learning rate, which this "
                          f"schedule brings to 0", file=file, key=f"schedule.{key}", expected=expected,
                          received=value)



__all__ = ["LOGGED_METRICS", "Recipe", "metric_mode", "recipe_from_dict"]
