"""The ensemble as a Keras model: members side by side, their outputs combined by one layer.

``combine_outputs(stacked, method)`` is the math (``keras.ops``, any backend); :class:`EnsembleAverage`
is the serializable layer that applies it; :func:`build_ensemble` wires trained members into one
functional model that saves to ``.keras`` and loads after ``import kerastricks`` alone.

Members of a classification ensemble output logits (every kerastricks model does: losses use
``from_logits=True``), and so does the ensemble, so it drops in wherever a member did
(``kerastricks evaluate``, a ``from_logits`` loss, ``argmax``):

- ``"mean"``: the mean of the members' softmax probabilities ``p = (1/M) sum_m softmax(z_m)``, returned
  as ``log p`` (``softmax(log p) = p``), computed as ``logsumexp_m(log_softmax(z_m)) - log M``.
- ``"logit_mean"``: the mean of the members' logits ``(1/M) sum_m z_m`` (a geometric mean of their
  probabilities, renormalized).
- ``"vote"``: majority vote. The share ``(v_k + p_k / 2) / (M + 1/2)`` of class ``k``, where ``v_k``
  counts the members whose arg-max is ``k`` and ``p`` is the ``"mean"`` probability: half a vote split
  by the mean probability breaks ties (never overturns a vote) and keeps every class's share above 0
  so the loss stays finite. Returned as ``log`` of the share.

A regression ensemble averages its members' outputs (``"mean"`` only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

METHODS = ("mean", "vote", "logit_mean")
TASKS = ("classification", "regression")
#: The share of a vote the mean probability adds in ``"vote"`` (ties broken, no class at 0).
VOTE_TIE_WEIGHT = 0.5


def _check(method: str, task: str) -> None:
    if method not in METHODS:
        raise ValueError(f"Argument `method` must be one of {', '.join(METHODS)}. Received: method={method!r}")
    if task not in TASKS:
        raise ValueError(f"Argument `task` must be one of {', '.join(TASKS)}. Received: task={task!r}")
    if task == "regression" and method != "mean":
        raise ValueError(f"Argument `method` must be 'mean' for a regression ensemble. Received: method={method!r}")


def combine_outputs(stacked: Any, method: str = "mean", task: str = "classification") -> Any:
    """Combine member outputs stacked on axis 0 (``(M, batch, ...)``) into the ensemble's output.

    Args:
        stacked: Member outputs (logits for classification), shape ``(M, batch, classes)``.
        method: ``"mean"``, ``"vote"`` or ``"logit_mean"`` (see the module docstring).
        task: ``"classification"`` or ``"regression"`` (a plain mean of the outputs).

    Returns:
        Logits of the ensemble (``log`` of its probabilities for ``"mean"`` and ``"vote"``), or the mean
        output for regression; shape ``(batch, ...)``.
    """
    _check(method, task)
    z = ops.cast(stacked, "float32")
    n = z.shape[0]
    if task == "regression" or method == "logit_mean":
        return ops.mean(z, axis=0)
    log_mean = ops.logsumexp(ops.log_softmax(z, axis=-1), axis=0) - math.log(n)
    if method == "mean":
        return log_mean
    classes = z.shape[-1]
    votes = ops.sum(ops.one_hot(ops.argmax(z, axis=-1), classes, dtype="float32"), axis=0)
    share = (votes + VOTE_TIE_WEIGHT * ops.exp(log_mean)) / (n + VOTE_TIE_WEIGHT)
    return ops.log(share)


@keras.saving.register_keras_serializable(package="kerastricks")
class EnsembleAverage(keras.layers.Layer):
    """Combine a list of member outputs into one (see :func:`combine_outputs`).

    Args:
        method: ``"mean"`` (mean probability, default), ``"vote"`` or ``"logit_mean"``.
        task: ``"classification"`` (inputs are logits) or ``"regression"`` (``"mean"`` only).

    Computes in float32 whatever the dtype policy (``dtype="float32"`` by default).

    Example:
        >>> avg = EnsembleAverage("mean")
        >>> out = avg([logits_a, logits_b])     # log of the mean softmax probability
    """

    def __init__(self, method: str = "mean", task: str = "classification", **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        _check(method, task)
        self.method = method
        self.task = task

    def call(self, inputs: Sequence[Any]) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
            raise ValueError(f"{type(self).__name__} expects a list of member outputs. Received: {inputs!r}")
        return combine_outputs(ops.stack([ops.cast(x, "float32") for x in inputs], axis=0), self.method,
                               self.task)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "method": self.method, "task": self.task}


def build_ensemble(members: Sequence[keras.Model], method: str = "mean", task: str = "classification",
                   name: str = "ensemble") -> keras.Model:
    """One functional model: the input goes through every member; :class:`EnsembleAverage` combines them.

    The members are used as they are (their weights are shared, not copied) and renamed ``member_0``,
    ``member_1``, ... so that models with equal names can sit side by side. The result is not compiled (it
    is for inference; compile it with a ``from_logits=True`` loss to use ``model.evaluate``).

    Args:
        members: Trained models with the same input shape and output shape (>= 1 of them).
        method: See :func:`combine_outputs`.
        task: ``"classification"`` (members output logits) or ``"regression"``.
        name: The ensemble model's name.

    Raises:
        ValueError: no members, or members whose input or output shapes differ.
    """
    _check(method, task)
    members = list(members)
    if not members:
        raise ValueError("Argument `members` must hold at least one model. Received: members=[]")
    in_shape, out_shape = tuple(members[0].input_shape[1:]), tuple(members[0].output_shape[1:])
    for i, member in enumerate(members):
        if tuple(member.input_shape[1:]) != in_shape or tuple(member.output_shape[1:]) != out_shape:
            raise ValueError(f"Every member must map inputs {in_shape} to outputs {out_shape}. Received: member "
                             f"{i} maps {tuple(member.input_shape[1:])} to {tuple(member.output_shape[1:])}")
        member.name = f"member_{i}"
    inputs = keras.Input(shape=in_shape, name="inputs")
    outputs = EnsembleAverage(method, task, name="combine")([member(inputs) for member in members])
    return keras.Model(inputs, outputs, name=name)


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The member models of a model made by :func:`build_ensemble` (saved and loaded or not), in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name.startswith("member_")]


__all__ = ["METHODS", "EnsembleAverage", "build_ensemble", "combine_outputs", "ensemble_members"]
