"""Registration of every serializable kerastricks class with ``keras.saving``.

``keras.models.load_model`` finds a custom class only once its module has run
its ``@keras.saving.register_keras_serializable`` decorator. ``import kerastricks``
must stay cheap (the command line answers in about a second without TensorFlow),
so it does not import Keras itself; instead:

- if Keras is already imported, every module below is imported at once;
- otherwise a one-shot import hook runs :func:`register_all` right after Keras's
  own import finishes.

Either way, ``import keras, kerastricks`` (in any order, Keras imported directly or through
``import tensorflow``) is enough for
``keras.models.load_model`` to load a model that uses kerastricks layers,
optimizers, schedules or losses. ``tests/test_components.py`` checks that every module
holding ``register_keras_serializable`` is listed here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from typing import Any

#: Modules whose import registers serializable classes.
SERIALIZABLE_MODULES: tuple[str, ...] = (
    "kerastricks.layers.acnet",
    "kerastricks.layers.extended_bn",
    "kerastricks.layers.repvgg",
    "kerastricks.layers.weight_standardization",
    "kerastricks.losses.crossentropy",
    "kerastricks.losses.long_tail",
    "kerastricks.losses.regression",
    "kerastricks.models.recompute",
    "kerastricks.optimizers.adafactor",
    "kerastricks.optimizers.agc",
    "kerastricks.optimizers.lookahead",
    "kerastricks.optimizers.sm3",
    "kerastricks.pruning.layers",
    "kerastricks.schedules.cyclical",
    "kerastricks.schedules.decay",
    "kerastricks.schedules.one_cycle",
    "kerastricks.schedules.scaled",
    "kerastricks.schedules.warmup",
    "kerastricks.transfer.core",
    "kerastricks.callbacks.deferred_reweighting",
    "kerastricks.callbacks.time_to_target",
    "kerastricks.ensemble.model",
    "kerastricks.examples.gan",
    "kerastricks.swa",
)
#: Modules that need TensorFlow (tf.data); registered only where it is installed.
TENSORFLOW_MODULES: tuple[str, ...] = ("kerastricks.data.resampling",)

_done = False


def register_all() -> None:
    """Import every module in :data:`SERIALIZABLE_MODULES` (idempotent)."""
    global _done
    if _done:
        return
    _done = True
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)
    if importlib.util.find_spec("tensorflow") is not None:
        import keras

        if keras.backend.backend() == "tensorflow":
            for name in TENSORFLOW_MODULES:
                importlib.import_module(name)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps Keras's loader so :func:`register_all` runs after it.

    The finder stays in ``sys.meta_path`` until Keras's module has actually run: a look-up that loads nothing
    (TensorFlow's import calls ``importlib.util.find_spec("keras")`` before importing it) gets a wrapped spec
    too, and the import that follows finds the hook still in place.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_all()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register now if Keras is imported, else once it is."""
    if "keras" in sys.modules:
        register_all()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())
