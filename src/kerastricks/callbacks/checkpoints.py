"""Checkpoints of a run: the best model (``model.keras``) and a resumable state.

Both are written atomically. :class:`RunCheckpoint` saves, after every other
epoch-end callback ran, what the next epoch starts from: the model's and the
optimizer's variables and the state of every resumable callback, in one
``.npz`` file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerastricks import io as kio
from kerastricks.callbacks.divergence import all_finite

LAST = "last"


class BestModel(keras.callbacks.Callback):
    """Keep the weights of the best epoch by ``monitor``.

    The weights stay in memory (and in the run's checkpoint, see
    :meth:`state_arrays`); :meth:`save` writes the best model as a ``.keras``
    file once, at the end, because saving a whole model at every improvement
    costs more than the rest of the bookkeeping together.

    Args:
        monitor: Metric deciding "best", or ``"last"`` to keep the final
            weights (no selection; with a schedule that decays to zero the
            last epoch is usually the best, and a small validation set picks
            an epoch by noise).
        mode: ``"max"`` or ``"min"``.
        swap: Optional callback (Keras's ``SwapEMAWeights``) whose
            ``on_test_begin``/``on_test_end`` put the evaluated (averaged)
            weights in the model while they are copied, so the kept weights
            are the ones the metric was measured on.
    """

    def __init__(self, monitor: str, mode: str = "max", swap: Any = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = mode
        self.swap = swap
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None

    def _improved(self, value: float) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor == LAST:
            self.best_epoch = epoch + 1  # the weights are the model's own at the end
            return
        value = (logs or {}).get(self.monitor)
        if value is None or not self._improved(float(value)):
            return
        if self.swap is not None:
            self.swap.on_test_begin()
        try:
            weights = [np.array(w, copy=True) for w in self.model.get_weights()]
        finally:
            if self.swap is not None:
                self.swap.on_test_end()
        if not all_finite(weights):
            return  # a diverged model is never "best"
        self.best = float(value)
        self.best_epoch = epoch + 1
        self.best_weights = weights

    def save(self, model: keras.Model, path: str | Path) -> None:
        """Write ``model`` with the best weights (if any) to ``path``, atomically."""
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
        with kio.atomic_path(path) as tmp:
            model.save(tmp)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")

    def state_arrays(self) -> list[np.ndarray]:
        return list(self.best_weights or [])

    def load_state_arrays(self, arrays: list[np.ndarray]) -> None:
        self.best_weights = list(arrays) if arrays else None


class RunCheckpoint(keras.callbacks.Callback):
    """Resumable checkpoints of a run, as one atomic ``.npz`` file.

    Use it as the last callback of ``fit``: at the end of every due epoch it
    saves what the next epoch starts from, after every other callback ran
    (a plateau schedule has cut the rate, early stopping has restored its best
    weights): the model's variables (weights and the random-seed states of
    layers such as ``Dropout``, see :func:`model_state`), the optimizer's
    variables (iterations, moments, EMA averages, learning rate) and the
    state of every resumable callback.

    Args:
        path: The checkpoint file (``checkpoints/last.npz``).
        every: Epochs between checkpoints (the last epoch is always saved).
        states: ``name -> object`` with ``state_dict()``/``load_state_dict()``
            saved alongside (resumable callbacks); objects that also have
            ``state_arrays()``/``load_state_arrays()`` keep numpy arrays too.
        extra: Called at each save; returns JSON data stored with the checkpoint.
        skip: Called at each epoch end; True skips this epoch's checkpoint (a diverged epoch).
    """

    def __init__(self, path: str | Path, every: int = 1, states: dict[str, Any] | None = None,
                 extra: Callable[[], dict[str, Any]] | None = None,
                 skip: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.skip = skip
        self.path = Path(path)
        self.every = int(every)
        self.states = dict(states or {})
        self.extra = extra
        self.saved_epochs: list[int] = []

    def _due(self, epoch: int, total: int) -> bool:
        return (epoch + 1) % self.every == 0 or epoch + 1 == total

    def on_epoch_end(self, epoch, logs=None):
        if self.skip is not None and self.skip():
            return
        if self._due(epoch, int(self.params.get("epochs", epoch + 1))):
            self.write(self.model, epoch + 1)

    def write(self, model: keras.Model, epoch: int) -> None:
        """Save the state after ``epoch`` epochs (the epoch a resumed run starts at)."""
        weights = model_state(model)
        optimizer = optimizer_state(model)
        callbacks, state_arrays = capture_states(self.states)
        state = {
            "epoch": int(epoch),
            "n_weights": len(weights),
            "n_optimizer": len(optimizer),
            "callbacks": callbacks,
            "extra": self.extra() if self.extra else {},
            "arrays": {name: len(a) for name, a in state_arrays.items()},
        }
        arrays = {f"w{i}": w for i, w in enumerate(weights)}
        arrays.update({f"o{i}": v for i, v in enumerate(optimizer)})
        for k, values in enumerate(state_arrays.values()):
            arrays.update({f"s{k}_{i}": a for i, a in enumerate(values)})
        arrays["state"] = np.frombuffer(json.dumps(state, default=kio._json_default).encode("utf-8"), dtype=np.uint8)
        with kio.atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        self.saved_epochs.append(int(epoch))


def model_state(model: keras.Model) -> list[np.ndarray]:
    """Values of ``model.variables``: the weights and the state of every layer's ``SeedGenerator``.

    ``get_weights()`` leaves the seed states out, so a model restored from it
    alone draws its dropout masks again from the start.
    """
    return [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in model.variables]


def optimizer_state(model: keras.Model) -> list[np.ndarray]:
    """Values of ``model.optimizer.variables`` (iterations, moments, EMA averages, learning rate)."""
    return [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in model.optimizer.variables]


def capture_states(states: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """``(name -> state_dict(), name -> state_arrays())`` of resumable objects, as independent copies."""
    import copy

    dicts = {name: copy.deepcopy(obj.state_dict()) for name, obj in states.items()}
    arrays = {name: [np.array(a, copy=True) for a in obj.state_arrays()]
              for name, obj in states.items() if hasattr(obj, "state_arrays")}
    return dicts, arrays


def restore_states(states: dict[str, Any], dicts: dict[str, Any], arrays: dict[str, list[np.ndarray]]) -> None:
    """Load what :func:`capture_states` (or a checkpoint) holds back into the objects it names."""
    for name, obj in states.items():
        if name in dicts:
            obj.load_state_dict(dicts[name])
        if name in arrays and hasattr(obj, "load_state_arrays"):
            obj.load_state_arrays(arrays[name])


def _assign(variables: list, values: list[np.ndarray], owner: str) -> None:
    """Assign ``values`` to ``variables`` once every count and shape matched (else ``ValueError``, nothing assigned)."""
    if len(variables) != len(values):
        raise ValueError(f"{owner} has {len(variables)} variables, checkpoint has {len(values)}")
    for var, value in zip(variables, values):
        if tuple(var.shape) != tuple(value.shape):
            raise ValueError(f"{owner} variable {var.path}: shape {tuple(var.shape)} != saved {value.shape}")
    for var, value in zip(variables, values):
        var.assign(value)


def restore_model(model: keras.Model, values: list[np.ndarray]) -> None:
    """Assign values saved by :func:`model_state` to ``model.variables``."""
    _assign(model.variables, values, "model")


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]:
    """Read a :class:`RunCheckpoint` file: ``(state, model_variables, optimizer_variables)``.

    ``state["state_arrays"]`` maps each stateful object's name to its arrays.
    """
    with np.load(path, allow_pickle=False) as data:
        state = json.loads(bytes(data["state"]).decode("utf-8"))
        weights = [data[f"w{i}"] for i in range(state["n_weights"])]
        opt = [data[f"o{i}"] for i in range(state["n_optimizer"])]
        state["state_arrays"] = {
            name: [data[f"s{k}_{i}"] for i in range(n)] for k, (name, n) in enumerate(state.get("arrays", {}).items())
        }
    return state, weights, opt


def restore_optimizer(model: keras.Model, values: list[np.ndarray]) -> None:
    """Build ``model.optimizer`` for the model's variables and assign saved values."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    _assign(optimizer.variables, values, "optimizer")
