"""kerastricks: training techniques for Keras 3 as tested, serializable components.

``import kerastricks as kt`` gives the component families as submodules, each
imported on first use so the package itself stays cheap to import:

- ``kt.layers``      weight-standardized convs, extended BN, ACNet/RepVGG + ``reparameterize``
- ``kt.optimizers``  Adafactor (factored), SM3, adaptive gradient clipping, the optimizer registry
- ``kt.schedules``   warmup, one-cycle, cyclical, power decay, the schedule registry
- ``kt.losses``      label-smoothed and long-tail losses, the loss registry
- ``kt.callbacks``   resumable callbacks, time-to-target, deferred re-weighting
- ``kt.data``        datasets (MNIST-1D, digits, npz/csv/folders), echoing, long-tail sampling
- ``kt.models``      the model zoo and its conv/norm registries
- ``kt.swa``         stochastic weight averaging: the average, its learning rate, ``update_bn``
- ``kt.techniques``  recipe adapters for all of the above
- ``kt.transfer``    reuse / freeze / layer_groups / discriminative rates (fine-tuning)
- ``kt.recipes``, ``kt.Trainer``, ``kt.lr_find``

Every serializable class is registered with ``keras.saving`` as soon as Keras is
imported (before or after kerastricks), so ``keras.models.load_model`` works in a
fresh process after ``import kerastricks``.
"""

from __future__ import annotations

import importlib

from kerastricks._backend import select_backend as _select_backend

_select_backend()

from kerastricks import _components  # noqa: E402

_components.install()

__version__ = "0.2.0"

_SUBMODULES = ("layers", "optimizers", "schedules", "losses", "callbacks", "data", "models", "techniques",
               "recipes", "bench", "transfer", "pruning", "compress", "ensemble", "swa")
_OBJECTS = {
    "lr_find": "kerastricks.lr_finder:lr_find",
    "Trainer": "kerastricks.train:Trainer",
    "load_recipe": "kerastricks.recipes:load_recipe",
}

__all__ = ["__version__", *_SUBMODULES, *_OBJECTS]


def __getattr__(name: str):
    if name in _SUBMODULES:
        try:
            module = importlib.import_module(f"kerastricks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kerastricks.{name}":
                raise AttributeError(f"module 'kerastricks' has no attribute {name!r}") from None
            raise
        globals()[name] = module
        return module
    if name in _OBJECTS:
        from kerastricks._lazy import load_target

        value = load_target(_OBJECTS[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerastricks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
