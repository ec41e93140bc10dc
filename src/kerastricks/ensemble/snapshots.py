"""Snapshots for snapshot ensembles: the epochs that end a learning-rate cycle, and the callback that keeps the
weights there (used by the ``snapshot_ensemble`` technique, :mod:`kerastricks.techniques.snapshot_ensemble`)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def cycle_end_epochs(rates: np.ndarray, steps_per_epoch: int, epochs: int) -> list[int]:
    """The epochs (1-based counts of finished epochs) that end nearest to each cycle end, and the last epoch.

    A cycle ends at a step ``s`` whose rate is a local minimum followed by a rise (``rates[s] < rates[s + 1]``
    and ``rates[s] <= rates[s - 1]``): after that step the model has taken ``s + 1`` steps, which is the end
    of epoch ``round((s + 1) / steps_per_epoch)``. A rise at the very start (a warmup) is no cycle end.

    Args:
        rates: The learning rate of every step of the run, ``rates[s]`` used by step ``s``.
        steps_per_epoch: Optimizer steps per epoch, >= 1.
        epochs: Epochs of the run.

    Example:
        >>> cycle_end_epochs(np.array([3, 2, 1, 2, 3, 2, 1, 2.0]), 2, 4)   # minima at steps 2 and 6
        [2, 4]
    """
    rates = np.asarray(rates, dtype=np.float64)
    ends = set()
    for s in range(len(rates) - 1):
        if rates[s] < rates[s + 1] and (s == 0 or rates[s] <= rates[s - 1]):
            epoch = int(round((s + 1) / steps_per_epoch))
            if 1 <= epoch < epochs:
                ends.add(epoch)
    ends.add(int(epochs))
    return sorted(ends)


class SnapshotCollector(keras.callbacks.Callback):
    """Keeps a copy of the model's weights at the end of each epoch in ``epochs`` (1-based counts).

    Resumable: the trainer's checkpoint holds the snapshots taken so far (:meth:`state_dict`,
    :meth:`state_arrays`), so a resumed run ends with the same members.
    """

    def __init__(self, epochs: list[int]) -> None:
        super().__init__()
        self.epochs = sorted(int(e) for e in epochs)
        self.taken: list[int] = []
        self.snapshots: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        done = epoch + 1
        if done in self.epochs and done not in self.taken:
            self.taken.append(done)
            self.snapshots.append([np.array(w, copy=True) for w in self.model.get_weights()])

    # ---- resume -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"taken": list(self.taken), "sizes": [len(s) for s in self.snapshots]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.taken = [int(e) for e in state.get("taken", [])]
        self._sizes = [int(n) for n in state.get("sizes", [])]

    def state_arrays(self) -> list[np.ndarray]:
        return [w for snapshot in self.snapshots for w in snapshot]

    def load_state_arrays(self, arrays: list[np.ndarray]) -> None:
        sizes = getattr(self, "_sizes", [])
        self.snapshots, start = [], 0
        for n in sizes:
            self.snapshots.append([np.array(a, copy=True) for a in arrays[start:start + n]])
            start += n
