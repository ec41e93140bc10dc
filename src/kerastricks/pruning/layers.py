"""``PruneLowMagnitude``: a wrapper that keeps a magnitude mask on a Dense/Conv kernel during training."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerastricks.errors import check_arg
from kerastricks.pruning.schedule import magnitude_mask, n_m_mask, parse_structure, polynomial_sparsity, pruning_due

#: Public Keras layers whose ``kernel`` is used as it is stored (so a zero in it is a zero in the computation).
PRUNABLE_TYPES: tuple[str, ...] = ("Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
                                   "Conv2DTranspose", "Conv3DTranspose")


def is_prunable(layer: Any) -> bool:
    """True for the public Keras layers in :data:`PRUNABLE_TYPES` (exactly those classes: a subclass such as a
    weight-standardized conv transforms its kernel before use, so a zero would not stay a zero)."""
    return type(layer) in tuple(getattr(keras.layers, name) for name in PRUNABLE_TYPES) and \
        not getattr(layer, "lora_enabled", False)


class _ApplyMask(keras.constraints.Constraint):
    """Variable constraint ``w -> mask * previous(w)``: Keras's optimizers apply it after every update.

    Attached to the wrapped kernel at build time, never serialized (the wrapper re-attaches it when it is
    built again); ``previous`` is the kernel's own constraint, if any.
    """

    def __init__(self, mask: Any, previous: Any = None) -> None:
        self.mask = mask
        self.previous = previous

    def __call__(self, w: Any) -> Any:
        if self.previous is not None:
            w = self.previous(w)
        return w * ops.cast(self.mask, w.dtype)


class _Group:
    """A plain holder of the wrappers that share one global ranking (a plain object: Keras does not track the
    layers in it as sublayers)."""

    def __init__(self, members: list, linked: bool = False) -> None:
        self.members = members
        self.linked = linked


@keras.saving.register_keras_serializable(package="kerastricks")
class PruneLowMagnitude(keras.layers.Wrapper):
    """Magnitude pruning of a layer's kernel on the Zhu & Gupta schedule.

    The wrapper owns two non-trainable variables that travel with the model (``.keras`` files,
    checkpoints, the compiled step on every backend): ``mask`` (the kernel's shape, 1 = kept) and
    ``pruning_step`` (training batches seen). In every training call it recomputes the mask when
    :func:`~kerastricks.pruning.pruning_due` says so: the ``floor(s_t * n)`` smallest-magnitude entries of
    the kernel are dropped, with ``s_t`` from :func:`~kerastricks.pruning.polynomial_sparsity`. The mask is
    applied as the kernel variable's constraint, which Keras's optimizers (and every kerastricks optimizer,
    all built on ``keras.optimizers.Optimizer.apply``) run after each update; so from the step after a mask
    update on, the stored pruned weights are exactly zero (TensorFlow, PyTorch). Under JAX the compiled
    optimizer step cannot read a model variable that is not trainable (Keras hands it only the trainable and
    optimizer state), so there every call multiplies the kernel by the current mask before the forward pass:
    outputs and gradients always follow the mask exactly, the stored pruned entries may drift with the
    optimizer's momentum or weight decay, and :func:`~kerastricks.pruning.strip_pruning` zeroes them.

    With ``structure="N:M"`` (e.g. ``"2:4"``) every mask update keeps the ``N`` largest of every ``M``
    consecutive weights along the kernel's input axis (:func:`~kerastricks.pruning.n_m_mask`) instead: the
    sparsity is ``1 - N/M`` from ``begin_step`` on and the schedule's sparsities are not used (``begin_step``,
    ``end_step`` and ``frequency`` still say when masks are recomputed).

    With ``scope="global"`` the threshold is shared by every wrapper linked to this one by
    :func:`~kerastricks.pruning.prune_model` (one ranking over all their kernels): layers with small weights
    lose more of them.

    Args:
        layer: A :func:`~kerastricks.pruning.is_prunable` layer.
        initial_sparsity: ``s_i`` in [0, 1). Default 0.
        final_sparsity: ``s_f`` in [s_i, 1). Default 0.8.
        begin_step: First mask update (training batches counted from 0). Default 0.
        end_step: Last mask update, >= ``begin_step``. Default 1000.
        frequency: Batches between mask updates, >= 1. Default 100.
        power: Exponent of the schedule, > 0. Default 3 (the paper's).
        scope: ``"layer"`` (one threshold per layer) or ``"global"``. Default ``"layer"``.
        structure: ``None`` (unstructured, default) or ``"N:M"`` with ``0 < N < M`` (``scope="layer"`` only;
            the kernel's input axis must be a multiple of ``M``).

    Example:
        >>> import keras, kerastricks as kt
        >>> layer = kt.pruning.PruneLowMagnitude(keras.layers.Dense(4), final_sparsity=0.5, end_step=10)

    Reference:
        Zhu & Gupta, 2017, arXiv 1710.01878; the wrapper form follows tensorflow-model-optimization's
        ``prune_low_magnitude`` (Keras 2 only).
    """

    def __init__(self, layer: keras.layers.Layer, initial_sparsity: float = 0.0, final_sparsity: float = 0.8,
                 begin_step: int = 0, end_step: int = 1000, frequency: int = 100, power: float = 3.0,
                 scope: str = "layer", structure: str | None = None, **kwargs: Any) -> None:
        check_arg(is_prunable(layer), "layer", f"one of keras.layers.{', '.join(PRUNABLE_TYPES)}",
                  type(layer).__name__)
        check_arg(0 <= initial_sparsity < 1, "initial_sparsity", "in [0, 1)", initial_sparsity)
        check_arg(initial_sparsity <= final_sparsity < 1, "final_sparsity", f"in [initial_sparsity "
                  f"({initial_sparsity}), 1)", final_sparsity)
        check_arg(int(begin_step) >= 0, "begin_step", ">= 0", begin_step)
        check_arg(int(end_step) >= int(begin_step), "end_step", f">= begin_step ({begin_step})", end_step)
        check_arg(int(frequency) >= 1, "frequency", ">= 1", frequency)
        check_arg(power > 0, "power", "> 0", power)
        check_arg(scope in ("layer", "global"), "scope", "'layer' or 'global'", scope)
        if structure is not None:
            try:
                parsed = parse_structure(structure)
            except ValueError:
                parsed = None
            check_arg(parsed is not None, "structure", "'N:M' with integers 0 < N < M", structure)
            check_arg(scope == "layer", "scope", "'layer' with a structure", scope)
        kwargs.pop("autocast", None)
        kwargs.setdefault("name", f"{layer.name}_pruned")
        # autocast=False: the mask is computed from the float32 kernel, never from a float16 copy
        super().__init__(layer, autocast=False, **kwargs)
        self.initial_sparsity = float(initial_sparsity)
        self.final_sparsity = float(final_sparsity)
        self.begin_step = int(begin_step)
        self.end_step = int(end_step)
        self.frequency = int(frequency)
        self.power = float(power)
        self.scope = scope
        self.structure = None if structure is None else str(structure)
        self._group = _Group([self])  # the global group (link_pruning sets it); not tracked as sublayers

    def peers(self) -> list[PruneLowMagnitude]:
        """The wrappers ranked together with this one (``scope="global"``; itself alone until linked).

        A method, not an attribute: Keras's saving walks a layer's attributes, and a list holding the layer
        itself would send it round in circles."""
        return list(self._group.members)

    @property
    def linked(self) -> bool:
        return self._group.linked

    def link(self, peers: list[PruneLowMagnitude]) -> None:
        """Rank this layer's kernel together with ``peers`` (which must include it)."""
        self._group = _Group(list(peers), linked=True)

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        kernel = self.layer.kernel
        if self.structure is not None:
            m = parse_structure(self.structure)[1]
            check_arg(len(kernel.shape) >= 2 and int(kernel.shape[-2]) % m == 0, "structure",
                      f"M dividing the input axis of '{self.layer.name}'s kernel {tuple(kernel.shape)}",
                      self.structure)
        self.mask = self.add_weight(name="mask", shape=tuple(kernel.shape), initializer="ones", trainable=False,
                                    dtype="float32", autocast=False)
        self.pruning_step = self.add_weight(name="pruning_step", shape=(), initializer="zeros", trainable=False,
                                            dtype="int32", autocast=False)
        if keras.backend.backend() != "jax":  # see the class docstring
            kernel.constraint = _ApplyMask(self.mask, kernel.constraint)

    def sparsity(self, step: Any) -> Any:
        """The schedule's target sparsity at ``step``."""
        return polynomial_sparsity(step, self.initial_sparsity, self.final_sparsity, self.begin_step,
                                   self.end_step, self.power)

    def effective_magnitude(self) -> Any:
        """``|kernel * mask|`` in float32: what the layer computes with (pruned entries rank first)."""
        return ops.abs(ops.cast(self.layer.kernel, "float32") * self.mask.value)

    def _new_mask(self, sparsity: Any) -> Any:
        if self.structure is not None:
            return n_m_mask(self.effective_magnitude(), *parse_structure(self.structure))
        peers = self.peers()
        if self.scope == "layer" or len(peers) == 1:
            return magnitude_mask(self.effective_magnitude(), sparsity)
        flats = [ops.reshape(p.effective_magnitude(), (-1,)) for p in peers]
        keep = magnitude_mask(ops.concatenate(flats, axis=0), sparsity)
        start = 0
        for peer, flat in zip(peers, flats):
            if peer is self:
                return ops.reshape(keep[start:start + int(flat.shape[0])], tuple(self.layer.kernel.shape))
            start += int(flat.shape[0])
        raise RuntimeError("a global pruning group must contain the layer itself")  # pragma: no cover

    def call(self, inputs: Any, training: Any = None, **kwargs: Any) -> Any:
        if training:
            if self.scope == "global" and not self.linked:
                raise ValueError(f"Layer '{self.name}' prunes with scope='global' but is not linked to its group: "
                                 "call kerastricks.pruning.link_pruning(model) (prune_model does it) after loading.")
            step = self.pruning_step.value
            due = pruning_due(step, self.begin_step, self.end_step, self.frequency)
            mask = ops.cond(due, lambda: self._new_mask(self.sparsity(step)), lambda: self.mask.value)
            self.mask.assign(mask)
            self.pruning_step.assign(step + 1)
        if keras.backend.backend() == "jax":  # see the class docstring: the forward pass follows the mask
            kernel = self.layer.kernel
            kernel.assign(kernel * self.mask.value)
        return self.layer(inputs, **kwargs)  # the prunable layers take no `training` argument

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(initial_sparsity=self.initial_sparsity, final_sparsity=self.final_sparsity,
                      begin_step=self.begin_step, end_step=self.end_step, frequency=self.frequency,
                      power=self.power, scope=self.scope, structure=self.structure)
        return config
