"""Whole-model pruning: choose layers, wrap them, link global groups, strip the wrappers for export."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerastricks.errors import ConfigError
from kerastricks.pruning.layers import PruneLowMagnitude, is_prunable
from kerastricks.pruning.schedule import magnitude_mask, parse_structure


def _is_conv(layer: Any) -> bool:
    return "Conv" in type(layer).__name__


def default_layers(model: keras.Model) -> list[str]:
    """Every prunable layer of ``model`` except the first convolution and the classifier (the last Dense).

    The first convolution has few weights and sees the raw input; the classifier maps features to classes
    one to one: pruning either costs accuracy for little size (Zhu & Gupta 2017 and tfmot's guide keep them
    dense too).
    """
    candidates = [layer for layer in model.layers if is_prunable(layer)]
    convs = [layer for layer in candidates if _is_conv(layer)]
    denses = [layer for layer in candidates if not _is_conv(layer)]
    skip = {id(convs[0])} if convs else set()
    if denses:
        skip.add(id(denses[-1]))
    return [layer.name for layer in candidates if id(layer) not in skip]


def select_layers(model: keras.Model, patterns: Sequence[str] | None = None, *, key: str = "layers") -> list[str]:
    """Names of the layers to prune: those matching any glob in ``patterns`` (``fnmatch``, e.g.
    ``"block*_conv"``), or :func:`default_layers` when ``patterns`` is None.

    Raises:
        ConfigError: a pattern matches no layer, or matches a layer that cannot be pruned.
    """
    if patterns is None:
        names = default_layers(model)
        if not names:
            raise ConfigError("the model has no layer to prune besides its first conv and classifier", key=key,
                              expected="Dense/Conv layers, or explicit layer patterns",
                              received=", ".join(layer.name for layer in model.layers))
        return names
    chosen: list[str] = []
    for pattern in patterns:
        hits = [layer for layer in model.layers if fnmatch.fnmatchcase(layer.name, pattern)]
        if not hits:
            prunable = [layer.name for layer in model.layers if is_prunable(layer)]
            raise ConfigError("layer pattern matches no layer", key=key,
                              expected=f"a glob matching some of {', '.join(prunable) or 'no prunable layer'}",
                              received=pattern)
        for layer in hits:
            if not is_prunable(layer):
                raise ConfigError(f"layer '{layer.name}' cannot be pruned", key=key,
                                  expected="patterns matching public Keras Dense/Conv layers only",
                                  received=f"{pattern} (matches a {type(layer).__name__})")
            if layer.name not in chosen:
                chosen.append(layer.name)
    return chosen


def _rebuild(model: keras.Model, replace: Any, what: str) -> keras.Model:
    try:
        return keras.models.clone_model(model, clone_function=replace)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what} needs a functional or sequential Keras model", key="model",
                          expected="a functional/sequential model",
                          received=f"{type(model).__name__} ({str(exc).splitlines()[0]})") from None


def _fresh(layer: Any) -> Any:
    return layer.__class__.from_config(layer.get_config())


def link_pruning(model: keras.Model) -> list[PruneLowMagnitude]:
    """Link the ``scope="global"`` wrappers of ``model`` into one group (one ranking over all their kernels).

    :func:`prune_model` does it; call it again after ``keras.models.load_model`` to continue training a
    globally pruned model. Returns the wrappers, in model order.
    """
    wrappers = [layer for layer in model.layers if isinstance(layer, PruneLowMagnitude)]
    group = [w for w in wrappers if w.scope == "global"]
    for w in group:
        w.link(group)
    return wrappers


def prune_model(model: keras.Model, layers: Sequence[str] | None = None, *, initial_sparsity: float = 0.0,
                final_sparsity: float = 0.8, begin_step: int = 0, end_step: int = 1000, frequency: int = 100,
                power: float = 3.0, scope: str = "layer", structure: str | None = None) -> keras.Model:
    """A copy of ``model`` whose chosen layers are wrapped in :class:`PruneLowMagnitude` (weights copied).

    Args:
        model: A functional or sequential model.
        layers: Globs of the layer names to prune; default :func:`default_layers`.
        initial_sparsity, final_sparsity, begin_step, end_step, frequency, power, scope, structure: the
            :class:`PruneLowMagnitude` options, the same for every chosen layer.

    Raises:
        ConfigError: no layer matches, or ``structure``'s ``M`` does not divide a chosen kernel's input axis.

    Example:
        >>> import keras, kerastricks as kt
        >>> inputs = keras.Input((8,))
        >>> x = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
        >>> pruned = kt.pruning.prune_model(model, final_sparsity=0.5, end_step=20, frequency=5)
        >>> [layer.name for layer in pruned.layers]
        ['input_layer', 'hidden_pruned', 'logits']
    """
    chosen = set(select_layers(model, layers))
    if structure is not None:
        _check_structure(model, chosen, structure)
    options = dict(initial_sparsity=initial_sparsity, final_sparsity=final_sparsity, begin_step=begin_step,
                   end_step=end_step, frequency=frequency, power=power, scope=scope, structure=structure)

    def replace(layer):
        if layer.name in chosen:
            return PruneLowMagnitude(_fresh(layer), **options)
        return _fresh(layer)

    new = _rebuild(model, replace, "pruning")
    for layer in new.layers:
        if isinstance(layer, PruneLowMagnitude):
            layer.layer.set_weights(model.get_layer(layer.layer.name).get_weights())
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    link_pruning(new)
    return new


def _check_structure(model: keras.Model, chosen: set[str], structure: str) -> None:
    """``structure`` is ``"N:M"`` and ``M`` divides the input axis of every chosen kernel (else one ConfigError)."""
    try:
        m = parse_structure(structure)[1]
    except ValueError:
        raise ConfigError(key="structure", expected="'N:M' with integers 0 < N < M (e.g. '2:4')",
                          received=structure) from None
    for layer in model.layers:
        if layer.name in chosen and int(layer.kernel.shape[-2]) % m:
            raise ConfigError(f"layer '{layer.name}' cannot take {structure} sparsity", key="structure",
                              expected="M dividing every pruned kernel's input axis (or other layers)",
                              received=f"{structure} on a kernel of shape {tuple(layer.kernel.shape)}")


def strip_pruning(model: keras.Model) -> keras.Model:
    """A copy of ``model`` without :class:`PruneLowMagnitude` wrappers: each wrapped layer comes back under its
    own name with ``kernel * mask`` (pruned entries exactly zero). The result holds public Keras layers only
    (it loads without kerastricks) and is what to export. A model without wrappers is copied as it is."""
    wrapped = {layer.name: layer for layer in model.layers if isinstance(layer, PruneLowMagnitude)}

    def replace(layer):
        return _fresh(layer.layer if isinstance(layer, PruneLowMagnitude) else layer)

    new = _rebuild(model, replace, "strip_pruning")
    inner_to_wrapper = {w.layer.name: w for w in wrapped.values()}
    for layer in new.layers:
        if not layer.weights:
            continue
        if layer.name in inner_to_wrapper:
            wrapper = inner_to_wrapper[layer.name]
            mask = keras.ops.convert_to_numpy(wrapper.mask)
            layer.set_weights([keras.ops.convert_to_numpy(v) * (mask if v is wrapper.layer.kernel else 1)
                               for v in wrapper.layer.weights])
        else:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new


def prune_weights(model: keras.Model, sparsity: float, layers: Sequence[str] | None = None, *,
                  scope: str = "layer") -> keras.Model:
    """One-shot magnitude pruning, no training: a stripped copy of ``model`` in which the chosen layers'
    ``floor(sparsity * n)`` smallest-magnitude kernel entries are zero (per layer, or ranked over all chosen
    kernels with ``scope="global"``). ``kerastricks compress --prune-to`` uses it."""
    if not 0 <= sparsity < 1:
        raise ConfigError(key="sparsity", expected="a sparsity in [0, 1)", received=sparsity)
    new = strip_pruning(model)
    names = select_layers(new, layers)
    kernels = [keras.ops.convert_to_numpy(new.get_layer(n).kernel) for n in names]
    if scope == "global":
        flat = np.concatenate([np.abs(k).reshape(-1) for k in kernels])
        keep = np.asarray(keras.ops.convert_to_numpy(magnitude_mask(flat, sparsity)))
        masks, start = [], 0
        for k in kernels:
            masks.append(keep[start:start + k.size].reshape(k.shape))
            start += k.size
    else:
        masks = [np.asarray(keras.ops.convert_to_numpy(magnitude_mask(np.abs(k), sparsity))) for k in kernels]
    for name, kernel, mask in zip(names, kernels, masks):
        new.get_layer(name).kernel.assign(kernel * mask)
    return new


def sparsity_summary(model: keras.Model) -> dict[str, Any]:
    """Fraction of exactly-zero kernel entries of every Dense/Conv layer (wrapped or not), and over the wrapped
    (or, without wrappers, all such) layers together: ``{"layers": {name: fraction}, "overall": fraction}``."""
    rows: dict[str, float] = {}
    zeros = total = 0
    any_wrapped = any(isinstance(layer, PruneLowMagnitude) for layer in model.layers)
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, PruneLowMagnitude) else layer
        if not is_prunable(inner):
            continue
        kernel = keras.ops.convert_to_numpy(inner.kernel)
        if isinstance(layer, PruneLowMagnitude):
            kernel = kernel * keras.ops.convert_to_numpy(layer.mask)
        rows[inner.name] = float(np.mean(kernel == 0))
        if isinstance(layer, PruneLowMagnitude) or not any_wrapped:
            zeros += int(np.sum(kernel == 0))
            total += int(kernel.size)
    return {"layers": rows, "overall": zeros / total if total else 0.0}
