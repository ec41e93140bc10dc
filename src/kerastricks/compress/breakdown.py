"""Where the bytes of a LiteRT flatbuffer go: weights, other constants, quantization parameters, tensor names,
metadata and the graph itself, raw and after gzip.

A LiteRT file is a flatbuffer: a ``Model`` table with ``buffers`` (the constant tensors' bytes, stored densely
whatever their sparsity), ``subgraphs`` (tensors with their shapes, names and quantization parameters,
operators with their options), signature definitions and metadata buffers. Raw sizes add up exactly. gzip
sizes cannot be cut into parts exactly (the compressor shares its dictionary across the file), so each part's
gzip figure is what zeroing it in place saves, taken in a fixed order: weights, constants, quantization
parameters, names, metadata; what is left is the graph. The parts then add up to the file's gzip size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerastricks.compress.litert import gzip_size

#: The parts, in the order in which they are zeroed for the gzip attribution; ``graph`` is what remains.
PARTS = ("weights", "constants", "quantization", "names", "metadata", "graph")

#: ``Tensor.name``'s slot in the LiteRT schema's vtable (fields never move in a flatbuffer schema: shape 4,
#: type 6, buffer 8, name 10).
_TENSOR_NAME_SLOT = 10


def _array(view: Any) -> np.ndarray | None:
    """A generated ``...AsNumpy()`` getter's result as bytes (it returns 0 for an absent vector)."""
    if isinstance(view, np.ndarray) and view.size:
        return view.view(np.uint8)
    return None


def _byte_entropy(data: np.ndarray) -> float:
    """Order-0 entropy of ``data``'s bytes, in bytes: what an ideal coder of independent bytes would need."""
    counts = np.bincount(data, minlength=256)
    p = counts[counts > 0] / data.size
    return float(-(p * np.log2(p)).sum() * data.size / 8)


def size_breakdown(data: bytes) -> dict[str, Any]:
    """The raw and gzip bytes of each part of the LiteRT flatbuffer ``data``, and one row per weight tensor.

    Parts: ``weights`` (constant tensors of rank >= 2: kernels), ``constants`` (other constant tensors: biases,
    shapes), ``quantization`` (per-tensor and per-channel scales and zero points), ``names`` (tensor names),
    ``metadata`` (buffers no tensor uses: runtime version, conversion metadata) and ``graph`` (the rest: tensor
    and operator tables, options, signatures, flatbuffer offsets and padding).

    Returns:
        ``{"size_bytes", "size_gzip_bytes", "parts": {part: {"bytes", "gzip_bytes"}}, "weights": [{"name",
        "shape", "dtype", "bytes", "zeros", "gzip_bytes", "entropy_bytes"}]}``; each weight row's
        ``gzip_bytes`` is the tensor gzip-compressed alone and ``entropy_bytes`` the order-0 entropy of its
        bytes (a lower bound for any coder that codes bytes independently).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    buf = bytearray(data)
    model = schema.Model.GetRootAs(buf, 0)
    views: dict[str, list[np.ndarray]] = {part: [] for part in PARTS[:-1]}
    rows: list[dict[str, Any]] = []
    used: set[int] = set()
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for i in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(i)
            index = tensor.Buffer()
            if index not in used:
                used.add(index)
                content = _array(model.Buffers(index).DataAsNumpy())
                if content is not None:
                    shape = [int(d) for d in np.atleast_1d(tensor.ShapeAsNumpy())] if tensor.ShapeLength() else []
                    part = "weights" if len(shape) >= 2 else "constants"
                    views[part].append(content)
                    if part == "weights":
                        dtype = type_names.get(tensor.Type(), str(tensor.Type())).lower()
                        width = {"float32": 4, "int32": 4, "float16": 2, "int16": 2}.get(dtype, 1)
                        values = content.view({4: np.uint32, 2: np.uint16, 1: np.uint8}[width])
                        rows.append({"name": (tensor.Name() or b"").decode(errors="replace"), "shape": shape,
                                     "dtype": dtype, "bytes": int(content.size),
                                     "zeros": float(np.mean(values == 0)),
                                     "gzip_bytes": gzip_size(content.tobytes()),
                                     "entropy_bytes": round(_byte_entropy(content), 1)})
            quant = tensor.Quantization()
            if quant is not None:
                for getter in (quant.ScaleAsNumpy, quant.ZeroPointAsNumpy, quant.MinAsNumpy, quant.MaxAsNumpy):
                    array = _array(getter())
                    if array is not None:
                        views["quantization"].append(array)
            slot = tensor._tab.Offset(_TENSOR_NAME_SLOT)  # the generated getter copies; zeroing needs the place
            if slot:
                start, length = tensor._tab.Vector(slot), tensor._tab.VectorLen(slot)
                views["names"].append(np.frombuffer(buf, np.uint8, length, start))
    for b in range(model.BuffersLength()):
        if b not in used:
            content = _array(model.Buffers(b).DataAsNumpy())
            if content is not None:
                views["metadata"].append(content)

    total_gzip = gzip_size(bytes(buf))
    parts: dict[str, dict[str, int]] = {}
    before = total_gzip
    seen: set[int] = set()
    for part in PARTS[:-1]:  # a vector two tables share counts once, in its first part
        views[part] = [v for v in views[part] if v.ctypes.data not in seen and not seen.add(v.ctypes.data)]
        for view in views[part]:
            view[...] = 0  # in place: the flatbuffer's layout (offsets, padding) is untouched
        after = gzip_size(bytes(buf))
        parts[part] = {"bytes": int(sum(v.size for v in views[part])), "gzip_bytes": before - after}
        before = after
    parts["graph"] = {"bytes": len(data) - sum(p["bytes"] for p in parts.values()), "gzip_bytes": before}
    return {"size_bytes": len(data), "size_gzip_bytes": total_gzip, "parts": parts, "weights": rows}


def format_breakdown(breakdown: dict[str, Any], baseline_gzip: int | None = None) -> str:
    """A small table of :func:`size_breakdown`'s parts (with each part's share of ``baseline_gzip``, if given)."""
    head = f"{'part':<14} {'bytes':>8} {'gzip bytes':>10}" + (f" {'x baseline':>10}" if baseline_gzip else "")
    lines = [head]
    for part, sizes in breakdown["parts"].items():
        line = f"{part:<14} {sizes['bytes']:>8,} {sizes['gzip_bytes']:>10,}"
        if baseline_gzip:
            line += f" {sizes['gzip_bytes'] / baseline_gzip:>10.4f}"
        lines.append(line)
    total = f"{'total':<14} {breakdown['size_bytes']:>8,} {breakdown['size_gzip_bytes']:>10,}"
    if baseline_gzip:
        total += f" {breakdown['size_gzip_bytes'] / baseline_gzip:>10.4f}"
    return "\n".join(lines + [total])
