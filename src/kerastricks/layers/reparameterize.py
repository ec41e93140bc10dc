"""Structural re-parameterization of a whole model: training-time form -> deploy form."""

from __future__ import annotations

from collections import Counter
from typing import Any

import keras
import numpy as np
from keras import ops

from kerastricks.layers.extended_bn import ExtendedBatchNormalization
from kerastricks.layers.fusion import MultiBranchConv, bn_parameters, fuse_conv_bn
from kerastricks.layers.weight_standardization import WSConv1D, WSConv2D

_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_BNS = (keras.layers.BatchNormalization, ExtendedBatchNormalization)
_WS_KEYS = ("eps", "gain", "scale")


def _is_linear_conv(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, MultiBranchConv):
        return True
    return (
        isinstance(layer, _CONVS)
        and getattr(layer, "data_format", "channels_last") == "channels_last"
        and keras.activations.serialize(layer.activation) in ("linear", None)
        and not getattr(layer, "lora_enabled", False)
    )


def _is_last_axis_bn(layer: keras.layers.Layer) -> bool:
    if not isinstance(layer, _BNS):
        return False
    rank = len(layer.input.shape) if hasattr(layer, "input") else None
    axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) and len(layer.axis) == 1 else layer.axis
    return isinstance(axis, int) and (axis == -1 or (rank is not None and axis == rank - 1))


def _history_names(obj: Any, out: list[str]) -> None:
    """Collect the producing layer names of every tensor in a serialized inbound node."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            out.append(obj["config"]["keras_history"][0])
            return
        for value in obj.values():
            _history_names(value, out)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _history_names(value, out)


def _graph(model: keras.Model) -> tuple[dict[str, list[list[str]]], Counter]:
    """Per layer, the producer names of each call (node); and how often each layer's output is consumed."""
    producers: dict[str, list[list[str]]] = {}
    uses: Counter = Counter()
    if isinstance(model, keras.Sequential):
        previous = None
        for layer in model.layers:
            producers[layer.name] = [[previous]] if previous else [[]]
            if previous:
                uses[previous] += 1
            previous = layer.name
        if previous:
            uses[previous] += 1  # the model's output
        return producers, uses
    config = model.get_config()
    for entry in config.get("layers", []):
        nodes = []
        for node in entry.get("inbound_nodes", []):
            names: list[str] = []
            _history_names(node, names)
            nodes.append(names)
            uses.update(names)
        producers[entry["config"]["name"]] = nodes
    outputs: list[str] = []
    _history_names(config.get("output_layers", []), outputs)
    for item in config.get("output_layers", []):
        if isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            outputs.append(item[0])
    uses.update(outputs)
    return producers, uses


def _fold_pairs(model: keras.Model) -> dict[str, str]:
    """``{conv name: bn name}`` for every conv whose only consumer is a channels-last BN."""
    producers, uses = _graph(model)
    layers = {layer.name: layer for layer in model.layers}
    pairs: dict[str, str] = {}
    for name, nodes in producers.items():
        layer = layers.get(name)
        if layer is None or not isinstance(layer, _BNS) or len(nodes) != 1 or len(nodes[0]) != 1:
            continue
        source = layers.get(nodes[0][0])
        if (
            source is not None
            and _is_linear_conv(source)
            and len(producers.get(source.name, [])) == 1
            and uses[source.name] == 1
            and _is_last_axis_bn(layer)
            and source.name not in pairs
        ):
            pairs[source.name] = name
    return pairs


def _conv_weights(layer: keras.layers.Layer) -> tuple[np.ndarray, np.ndarray | None]:
    """``(kernel, bias)`` of a conv-like layer's inference-mode convolution."""
    if isinstance(layer, MultiBranchConv):
        return layer.fused_weights()
    if isinstance(layer, (WSConv1D, WSConv2D)):
        kernel = np.asarray(ops.convert_to_numpy(layer.standardized_kernel()), dtype="float32")
    else:
        kernel = np.asarray(ops.convert_to_numpy(layer.kernel), dtype="float32")
    bias = None if layer.bias is None else np.asarray(ops.convert_to_numpy(layer.bias), dtype="float32")
    return kernel, bias


def _plain_conv(layer: keras.layers.Layer, use_bias: bool) -> keras.layers.Layer:
    """An unbuilt plain Keras conv with ``layer``'s geometry, name and dtype policy."""
    if isinstance(layer, MultiBranchConv):
        cls = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[layer.rank]
        return cls(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                   use_bias=True, dtype=layer.dtype_policy, name=layer.name)
    config = {k: v for k, v in layer.get_config().items() if k not in _WS_KEYS}
    config["use_bias"] = use_bias or bool(config.get("use_bias"))
    cls = keras.layers.Conv1D if isinstance(layer, keras.layers.Conv1D) else (
        keras.layers.Conv2D if isinstance(layer, keras.layers.Conv2D) else keras.layers.Conv3D)
    return cls.from_config(config)


def reparameterize(model: keras.Model) -> keras.Model:
    """The deploy form of ``model``: every re-parameterizable structure collapsed into plain convolutions.

    - every :class:`~kerastricks.layers.ACBlock` and
      :class:`~kerastricks.layers.RepVGGBlock` becomes its fused ``Conv1D``/``Conv2D``;
    - every :class:`~kerastricks.layers.WSConv1D`/``WSConv2D`` becomes a plain
      conv holding its standardized (scaled, gained) kernel;
    - every conv (any of the above, or a Keras ``Conv1D/2D/3D`` without
      activation) whose output feeds only a channels-last ``BatchNormalization``
      or :class:`~kerastricks.layers.ExtendedBatchNormalization` has that norm
      folded in (:func:`~kerastricks.layers.fuse_conv_bn`); the norm becomes a
      ``keras.layers.Identity`` of the same name.

    The result computes what ``model(x, training=False)`` computes, with
    public Keras layers only (it loads without kerastricks). Every other layer
    is cloned with its weights; ``model`` is left untouched. Works on
    functional and ``Sequential`` models; layers inside nested models are
    cloned as they are, not fused.

    Args:
        model: A built functional or ``Sequential`` Keras model.

    Returns:
        A new ``keras.Model`` (not compiled) with the same inputs, outputs and
        layer names.

    Example:
        >>> deploy = reparameterize(model)
        >>> np.allclose(deploy.predict(x), model.predict(x), atol=1e-5)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    if not model.built:
        raise ValueError("Argument `model` must be built before it is re-parameterized.")
    pairs = _fold_pairs(model)
    folded_norms = set(pairs.values())

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer.name in folded_norms:
            return keras.layers.Identity(name=layer.name, dtype=layer.dtype_policy.name)
        if layer.name in pairs or isinstance(layer, (MultiBranchConv, WSConv1D, WSConv2D)):
            return _plain_conv(layer, use_bias=layer.name in pairs)
        return layer.__class__.from_config(layer.get_config())

    def call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        if layer.name in folded_norms:
            return layer(args[0])  # the norm's `training`/`mask` arguments mean nothing to Identity
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):  # layers are listed, not called: no call_function
        deploy = keras.models.clone_model(model, clone_function=clone)
    else:
        deploy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    norms = {name: model.get_layer(name) for name in folded_norms}
    for layer in model.layers:
        if layer.name in folded_norms or not layer.weights:
            continue
        new = deploy.get_layer(layer.name)
        if layer.name in pairs or isinstance(layer, (MultiBranchConv, WSConv1D, WSConv2D)):
            kernel, bias = _conv_weights(layer)
            if layer.name in pairs:
                kernel, bias = fuse_conv_bn(kernel, bias, *bn_parameters(norms[pairs[layer.name]]))
            new.set_weights([kernel] if not new.use_bias else [kernel, np.zeros(kernel.shape[-1], "float32")
                                                                if bias is None else bias])
        else:
            new.set_weights(layer.get_weights())
    return deploy
