"""The optimizer registry, importable without Keras.

Keras's own optimizers are registered under their Keras names; kerastricks's own
(``adafactor``: factored, sublinear state; ``sm3``) next to them (Keras's
Adafactor stays ``keras_adafactor``). The classes are imported only when an
optimizer is built. Each entry's schema is a Keras-free twin of the class
signature (:func:`_spec`): the options of Keras's base optimizer
(:data:`BASE_OPTIONS`: weight decay, clipping, EMA, gradient accumulation) plus
the optimizer's own; ``tests/optimizers/test_registry.py`` checks every twin
against the real signature, so the two cannot drift apart.

``[optimizer]`` may also hold ``lookahead = {sync_period = 6, slow_step_size = 0.5}``
(:data:`WRAPPERS`): the named optimizer is then wrapped in
:class:`~kerastricks.optimizers.Lookahead`, whichever it is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from kerastricks.registry import Registry
from kerastricks.validation import PositiveInt

OPTIMIZERS: Registry = Registry("optimizer")

#: Constructor options every Keras optimizer inherits from ``keras.optimizers.Optimizer``.
BASE_OPTIONS: dict[str, Any] = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _spec(name: str, options: dict[str, Any]) -> Callable[..., None]:
    """A Keras-free function whose keyword-only signature is ``options`` + :data:`BASE_OPTIONS`."""

    def spec(**kwargs: Any) -> None:  # pragma: no cover - only its signature is used
        return None

    merged = {**options, **{k: v for k, v in BASE_OPTIONS.items() if k not in options}}
    spec.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in merged.items()])
    spec.__name__ = spec.__qualname__ = name
    spec.__annotations__ = {}
    return spec


# name -> (target, description, own options with their defaults)
_ENTRIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sgd": ("keras.optimizers:SGD", "Stochastic gradient descent with optional (Nesterov) momentum.",
            {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
    "rmsprop": ("keras.optimizers:RMSprop", "RMSprop (Hinton 2012).",
                {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": False}),
    "adagrad": ("keras.optimizers:Adagrad", "Adagrad (Duchi et al. 2011).",
                {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-07}),
    "adadelta": ("keras.optimizers:Adadelta", "Adadelta (Zeiler 2012).",
                 {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-07}),
    "adam": ("keras.optimizers:Adam", "Adam (Kingma & Ba 2015).",
             {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}),
    "adamw": ("keras.optimizers:AdamW", "Adam with decoupled weight decay (Loshchilov & Hutter 2019).",
              {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
               "amsgrad": False}),
    "adamax": ("keras.optimizers:Adamax", "Adamax, the infinity-norm Adam variant.",
               {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}),
    "nadam": ("keras.optimizers:Nadam", "Adam with Nesterov momentum (Dozat 2016).",
              {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}),
    "lion": ("keras.optimizers:Lion", "Lion, sign-based momentum (Chen et al. 2023).",
             {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99}),
    "lamb": ("keras.optimizers:Lamb", "LAMB: Adam with a layer-wise trust ratio, for large batches (You et al. 2019).",
             {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}),
    "muon": ("keras.optimizers:Muon",
             "Muon: orthogonalized momentum for 2-D kernels, AdamW for every other variable (Jordan et al. 2024).",
             {"learning_rate": 0.001, "adam_beta_1": 0.9, "adam_beta_2": 0.999, "adam_weight_decay": 0.004,
              "epsilon": 1e-07, "weight_decay": 0.004, "exclude_layers": None, "exclude_embeddings": True,
              "muon_a": 3.4445, "muon_b": -4.775, "muon_c": 2.0315, "adam_lr_ratio": 1, "momentum": 0.95,
              "ns_steps": 5, "nesterov": True, "rms_rate": 0.2}),
    "schedule_free_adamw": ("keras.optimizers:ScheduleFreeAdamW",
                            "Schedule-free AdamW: no learning-rate schedule needed (Defazio et al. 2024).",
                            {"learning_rate": 0.0025, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-08,
                             "warmup_steps": 0}),
    "ftrl": ("keras.optimizers:Ftrl", "FTRL-Proximal (McMahan et al. 2013), for wide sparse models.",
             {"learning_rate": 0.001, "learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
              "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
              "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}),
    "keras_adafactor": ("keras.optimizers:Adafactor", "Keras's Adafactor (keeps a full-size slot per variable).",
                        {"learning_rate": 0.001, "beta_2_decay": -0.8, "epsilon_1": 1e-30, "epsilon_2": 0.001,
                         "clip_threshold": 1.0, "relative_step": True}),
    "adafactor": ("kerastricks.optimizers.adafactor:Adafactor",
                  "Adafactor with factored second moments: state sublinear in the parameters "
                  "(Shazeer & Stern 2018).",
                  {"learning_rate": None, "beta_1": None, "decay_rate": 0.8, "epsilon_1": 1e-30, "epsilon_2": 0.001,
                   "clip_threshold": 1.0, "multiply_by_parameter_scale": True, "min_dim_size_to_factor": 128,
                   "relative_step": True, "warmup_init": False}),
    "sm3": ("kerastricks.optimizers.sm3:SM3",
            "SM3-II: Adagrad with one accumulator per tensor axis (Anil et al. 2019).",
            {"learning_rate": 0.1, "momentum": 0.0}),
}
for _name, (_target, _desc, _opts) in _ENTRIES.items():
    OPTIMIZERS.register(_name, _target, description=_desc, spec=_spec(_name, _opts),
                        source="kerastricks" if _target.startswith("kerastricks") else "keras")

#: Filled by the trainer from [optimizer] / the schedule, never validated twice.
CONTEXT_ARGS = ("learning_rate",)


def lookahead_settings(*, sync_period: PositiveInt = 6,
                       slow_step_size: Annotated[float, Field(gt=0, le=1)] = 0.5) -> None:
    """``optimizer.lookahead = {...}``: wrap the optimizer in :class:`~kerastricks.optimizers.Lookahead`.

    Args:
        sync_period: ``k``, optimizer steps between synchronizations with the slow weights (>= 1).
        slow_step_size: ``alpha`` in (0, 1], the slow weights' step toward the fast ones.
    """


#: ``[optimizer]`` keys that wrap whichever optimizer is named (key -> its settings' signature).
WRAPPERS: dict[str, Callable[..., None]] = {"lookahead": lookahead_settings}


def split_wrapper_options(options: dict[str, Any], *, file: str | None = None,
                          fill_defaults: bool = True) -> dict[str, Any]:
    """Remove the wrapper keys (``lookahead``) from ``options`` (in place); return them validated."""
    from kerastricks.errors import ConfigError
    from kerastricks.validation import validate_options

    out = {}
    for key, settings in WRAPPERS.items():
        if key not in options:
            continue
        table = options.pop(key)
        if not isinstance(table, dict):
            raise ConfigError(file=file, key=f"optimizer.{key}", expected="a table, e.g. {sync_period = 6}",
                              received=table)
        out[key] = validate_options(settings, table, section=f"optimizer.{key}", file=file,
                                    fill_defaults=fill_defaults)
    return out


def validate_optimizer_options(name: str, options: dict[str, Any], *, file: str | None = None,
                               fill_defaults: bool = False) -> dict[str, Any]:
    options = dict(options)
    wrappers = split_wrapper_options(options, file=file, fill_defaults=fill_defaults)
    validated = OPTIMIZERS.validate(name, options, section="optimizer", file=file, fill_defaults=fill_defaults)[1]
    return {**validated, **wrappers}


def build_optimizer(name: str, options: dict[str, Any] | None = None, *, learning_rate: Any = None,
                    file: str | None = None, validated: bool = False) -> Any:
    """Build the named optimizer; ``learning_rate`` (float or schedule) overrides the option.

    ``options["lookahead"]`` (a table of :func:`lookahead_settings`) wraps the
    built optimizer in :class:`~kerastricks.optimizers.Lookahead`.
    """
    context = {} if learning_rate is None else {"learning_rate": learning_rate}
    opts = dict(options or {})
    wrappers = split_wrapper_options(opts, file=file) if not validated else \
        {k: opts.pop(k) for k in WRAPPERS if k in opts}
    if learning_rate is not None:
        opts.pop("learning_rate", None)
    optimizer = OPTIMIZERS.build(name, opts, section="optimizer", file=file, context=context, validated=validated)
    if wrappers.get("lookahead") is not None:
        from kerastricks.optimizers.lookahead import Lookahead

        optimizer = Lookahead(optimizer, **wrappers["lookahead"])
    return optimizer
