"""The gradual sparsity schedule of Zhu & Gupta (2017) and magnitude masks, as plain functions."""

from __future__ import annotations

from typing import Any

from keras import ops


def polynomial_sparsity(step: Any, initial_sparsity: float, final_sparsity: float, begin_step: int, end_step: int,
                        power: float = 3.0) -> Any:
    """Target sparsity at training step ``step`` (Zhu & Gupta 2017, eq. 1).

    .. code-block:: text

        s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0)) ** power     for t0 <= t <= t1
        s_t = 0 before t0,  s_f after t1

    with ``t0 = begin_step`` and ``t1 = end_step`` (the paper writes ``t1 - t0 = n * dt``: ``n`` mask updates
    every ``dt`` steps). The sparsity rises fast at first, while redundant weights are many, and slowly at the
    end. Works on Python numbers, numpy values and tensors (``keras.ops``); the result is float32.

    Args:
        step: The training step ``t`` (a scalar or an array of steps).
        initial_sparsity: ``s_i`` in [0, 1).
        final_sparsity: ``s_f`` in [s_i, 1).
        begin_step: ``t0`` >= 0.
        end_step: ``t1`` >= ``t0`` (equal: all of the pruning happens at ``t0``).
        power: The exponent, 3 in the paper.

    Reference:
        Zhu & Gupta, 2017, "To prune, or not to prune: exploring the efficacy of pruning for model
        compression", arXiv 1710.01878.
    """
    t = ops.cast(step, "float32")
    span = float(max(int(end_step) - int(begin_step), 1))
    progress = ops.clip((t - float(begin_step)) / span, 0.0, 1.0)
    if int(end_step) == int(begin_step):
        progress = ops.where(t >= float(begin_step), 1.0, 0.0)
    s = float(final_sparsity) + (float(initial_sparsity) - float(final_sparsity)) * (1.0 - progress) ** power
    return ops.where(t < float(begin_step), ops.zeros_like(s), s)


def pruning_due(step: Any, begin_step: int, end_step: int, frequency: int) -> Any:
    """Whether the masks are recomputed at ``step``: every ``frequency`` steps from ``begin_step`` up to
    ``end_step``, and at ``end_step`` itself (so the final sparsity is reached exactly)."""
    t = ops.cast(step, "int32")
    inside = ops.logical_and(t >= int(begin_step), t <= int(end_step))
    on_grid = ops.logical_or(ops.equal((t - int(begin_step)) % int(frequency), 0), ops.equal(t, int(end_step)))
    return ops.logical_and(inside, on_grid)


def magnitude_mask(magnitudes: Any, sparsity: Any) -> Any:
    """1 for the weights kept, 0 for the ``floor(sparsity * n)`` smallest ``magnitudes`` (float32, same shape).

    Ranks, not a threshold, decide: exactly ``floor(sparsity * n)`` entries are zero, ties broken by position.
    Entries that are already zero rank first, so with a non-decreasing sparsity the pruned set only grows.
    """
    flat = ops.reshape(ops.cast(magnitudes, "float32"), (-1,))
    n = int(flat.shape[0])
    k = ops.cast(ops.floor(ops.cast(sparsity, "float32") * float(n)), "int32")
    ranks = ops.argsort(ops.argsort(flat))  # the rank of each entry in ascending order
    keep = ops.cast(ranks >= k, "float32")
    return ops.reshape(keep, ops.shape(magnitudes))


def parse_structure(structure: str) -> tuple[int, int]:
    """``"N:M"`` -> ``(N, M)``: keep N of every M consecutive weights (0 < N < M). Raises ``ValueError``."""
    parts = str(structure).split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected 'N:M' with integers 0 < N < M, received {structure!r}")
    n, m = int(parts[0]), int(parts[1])
    if not 0 < n < m:
        raise ValueError(f"expected 'N:M' with integers 0 < N < M, received {structure!r}")
    return n, m


def n_m_mask(magnitudes: Any, n: int, m: int, axis: int = -2) -> Any:
    """1 for the ``n`` largest of every ``m`` consecutive ``magnitudes`` along ``axis``, 0 for the others.

    N:M structured sparsity (2:4 is what NVIDIA's sparse tensor cores run at twice the dense rate): the groups
    run along the reduction axis, the input axis of a Dense (``(in, out)``) or Conv (``(..., in, out)``)
    kernel, so ``axis=-2``; its length must be a multiple of ``m``. Ties are broken by position (the first
    entry of a group ranks lowest). Float32, the shape of ``magnitudes``.

    Reference:
        Mishra et al., 2021, "Accelerating sparse deep neural networks", arXiv 2104.08378 (2:4 on Ampere GPUs).
    """
    x = ops.moveaxis(ops.cast(magnitudes, "float32"), axis, -1)
    shape = tuple(int(d) for d in x.shape)
    if shape[-1] % int(m):
        raise ValueError(f"the axis {axis} of length {shape[-1]} is not a multiple of m={m}")
    groups = ops.reshape(x, (*shape[:-1], shape[-1] // int(m), int(m)))
    ranks = ops.argsort(ops.argsort(groups, axis=-1), axis=-1)  # 0 = the smallest of its group
    keep = ops.cast(ranks >= int(m) - int(n), "float32")
    return ops.moveaxis(ops.reshape(keep, shape), -1, axis)
