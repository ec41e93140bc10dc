"""``size_breakdown``: the parts of a LiteRT file, checked against TensorFlow's own flatbuffer reader and against
the Keras weights the file was made from."""

import gzip

import keras
import numpy as np
import pytest

from kerastricks.compress import convert, format_breakdown, gzip_size, size_breakdown


def tiny_model(zero_fraction: float, seed: int = 0) -> keras.Model:
    """Dense 6 -> 8 -> 3 with exactly ``floor(zero_fraction * n)`` zeros in each kernel."""
    keras.backend.clear_session()  # the same tensor names for every model built here
    inputs = keras.Input((6,), name="x")
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x), name="tiny")
    rng = np.random.default_rng(seed)
    for layer in model.layers[1:]:
        kernel, bias = (np.asarray(v) for v in layer.get_weights())
        kernel = rng.normal(size=kernel.shape).astype(np.float32)
        kernel.reshape(-1)[rng.permutation(kernel.size)[:int(zero_fraction * kernel.size)]] = 0
        layer.set_weights([kernel, rng.normal(size=bias.shape).astype(np.float32)])
    return model


def reference_parts(data: bytes) -> dict:
    """Raw sizes read with TensorFlow's object API (a different reader from the one size_breakdown uses)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    sizes = dict.fromkeys(("weights", "constants", "quantization", "names", "metadata"), 0)
    used = set()
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            content = model.buffers[tensor.buffer].data
            if tensor.buffer not in used and content is not None and len(content):
                rank = 0 if tensor.shape is None else len(tensor.shape)
                sizes["weights" if rank >= 2 else "constants"] += len(content)
            used.add(tensor.buffer)
            q = tensor.quantization
            if q is not None:
                for values in (q.scale, q.zeroPoint, q.min, q.max):
                    sizes["quantization"] += 0 if values is None else np.asarray(values).nbytes
            sizes["names"] += len(tensor.name or b"")
    for index, buffer in enumerate(model.buffers):
        if index not in used and buffer.data is not None:
            sizes["metadata"] += len(buffer.data)
    return sizes


@pytest.fixture(scope="module")
def files():
    dense, pruned = tiny_model(0.0), tiny_model(0.75)
    calib = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    return {"dense": (dense, convert(dense, "none")), "pruned": (pruned, convert(pruned, "none")),
            "pruned int8": (pruned, convert(pruned, "int8", calib))}


@pytest.mark.parametrize("name", ["dense", "pruned", "pruned int8"])
def test_raw_parts_match_tensorflows_reader_and_add_up(files, name):
    _, data = files[name]
    original = bytes(data)
    result = size_breakdown(data)
    assert data == original  # the caller's bytes are not touched
    parts = result["parts"]
    assert list(parts) == ["weights", "constants", "quantization", "names", "metadata", "graph"]
    for part, size in reference_parts(data).items():
        assert parts[part]["bytes"] == size, part
    assert sum(p["bytes"] for p in parts.values()) == len(data) == result["size_bytes"]
    # the gzip attribution telescopes: the parts add up to the file's gzip size exactly
    assert sum(p["gzip_bytes"] for p in parts.values()) == gzip_size(data) == result["size_gzip_bytes"]
    assert all(p["gzip_bytes"] >= 0 for p in parts.values())
    if name == "pruned int8":
        assert parts["quantization"]["bytes"] > 0 and parts["weights"]["bytes"] == 6 * 8 + 8 * 3  # one byte each
    else:
        assert parts["quantization"]["bytes"] == 0 and parts["weights"]["bytes"] == 4 * (6 * 8 + 8 * 3)


@pytest.mark.parametrize("name", ["dense", "pruned"])
def test_weight_rows_against_the_keras_kernels(files, name):
    """A float32 FULLY_CONNECTED weight is the Keras kernel transposed ([out, in]), stored as it is."""
    model, data = files[name]
    rows = {tuple(row["shape"]): row for row in size_breakdown(data)["weights"]}
    for layer in model.layers[1:]:
        kernel = np.asarray(layer.kernel).T
        row = rows[kernel.shape]
        stored = np.ascontiguousarray(kernel, dtype="<f4").tobytes()
        counts = np.bincount(np.frombuffer(stored, np.uint8), minlength=256)
        p = counts[counts > 0] / len(stored)
        assert row["dtype"] == "float32" and row["bytes"] == len(stored)
        assert row["zeros"] == np.mean(kernel == 0)  # exact: counts of exact zeros
        assert row["gzip_bytes"] == len(gzip.compress(stored, 9, mtime=0))
        assert row["entropy_bytes"] == pytest.approx(-(p * np.log2(p)).sum() * len(stored) / 8, abs=0.05)


def test_pruning_moves_only_the_weights_part(files):
    """Same network, other weights: once the constants are zeroed the two files are the same bytes, so every
    later part is equal; the pruned kernels compress better."""
    dense, pruned = (size_breakdown(files[name][1])["parts"] for name in ("dense", "pruned"))
    for part in ("quantization", "names", "metadata", "graph"):
        assert dense[part] == pruned[part], part
    assert pruned["weights"]["gzip_bytes"] < dense["weights"]["gzip_bytes"]


def test_format_breakdown_prints_every_part_and_the_ratio(files):
    result = size_breakdown(files["pruned int8"][1])
    text = format_breakdown(result, baseline_gzip=2 * result["size_gzip_bytes"])
    lines = text.splitlines()
    assert len(lines) == 8 and lines[-1].split()[0] == "total" and lines[-1].endswith("0.5000")
    assert [line.split()[0] for line in lines[1:-1]] == list(result["parts"])
