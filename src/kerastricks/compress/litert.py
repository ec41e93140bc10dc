"""LiteRT conversion with post-training quantization, and the interpreter that runs the result.

Conversion goes through Keras's own ``model.export(path, format="litert", ...)`` (TensorFlow backend), whose
keyword arguments are the TensorFlow Lite converter's attributes; only built-in LiteRT ops are allowed, so a
model the LiteRT runtime cannot run fails here with one line instead of producing a file that needs the
TensorFlow "select ops" delegate.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kerastricks.errors import ConfigError, shorten

#: ``--quantize`` choices: none (float32), dynamic-range int8 weights, float16 weights, full-integer int8.
QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")


def converter_options(quantize: str, representative: np.ndarray | None = None) -> dict[str, Any]:
    """Keyword arguments for ``model.export(..., format="litert")`` that select a quantization mode.

    - ``"none"``: float32 weights and activations.
    - ``"dynamic"``: int8 weights, float activations (weights de-quantized on the fly, or int8 kernels with
      activations quantized per batch at run time).
    - ``"float16"``: float16 weights (half the size), float computation.
    - ``"int8"``: full-integer: int8 weights (per output channel) and activations (per tensor, ranges from
      ``representative``), int8 input and output; the model runs on integer-only accelerators.
    """
    import tensorflow as tf

    if quantize not in QUANTIZE_MODES:
        raise ConfigError(key="--quantize", expected=f"one of {', '.join(QUANTIZE_MODES)}", received=quantize)
    options: dict[str, Any] = {}
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"] = {"supported_types": [tf.float16], "supported_ops": builtins}
    elif quantize == "int8":
        if representative is None or not len(representative):
            raise ConfigError(key="--calibration", expected="calibration examples for int8", received=0)
        data = np.asarray(representative, dtype=np.float32)

        def representative_dataset() -> Iterable[list[np.ndarray]]:
            for row in data:
                yield [row[None]]

        options["representative_dataset"] = representative_dataset
        options["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}
        options["inference_input_type"] = tf.int8
        options["inference_output_type"] = tf.int8
    else:
        options["target_spec"] = {"supported_ops": builtins}
    return options


def convert(model: Any, quantize: str = "none", representative: np.ndarray | None = None) -> bytes:
    """The LiteRT flatbuffer of ``model`` (a Keras model on the TensorFlow backend) in mode ``quantize``.

    Raises:
        ConfigError: the converter cannot express a layer with built-in LiteRT ops (one line, naming it).
    """
    import keras

    options = converter_options(quantize, representative)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.tflite")
        try:
            with _converter_logs_to(Path(tmp) / "converter.log"):
                model.export(path, format="litert", verbose=False, **options)
        except Exception as exc:  # the converter's errors are long, multi-line and of many types
            text = str(exc)
            ops = sorted(set(re.findall(r"'?tf\.(\w+)'? op is neither", text)) |
                         set(op.strip() for m in re.findall(r"(?:Custom|Flex) ops: ([\w, ]+)", text)
                             for op in m.split(",")))
            first = (f"TensorFlow ops with no LiteRT kernel: {', '.join(ops)}" if ops else
                     next((line.strip() for line in text.splitlines() if "error" in line.lower()),
                          text.splitlines()[0] if text else type(exc).__name__))
            layers = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in model.layers
                               if type(layer).__module__.split(".")[0] != "keras")
            raise ConfigError("the LiteRT converter cannot handle this model", key="model",
                              expected="layers made of built-in LiteRT ops"
                                       + (f" (custom layers here: {layers})" if layers else ""),
                              received=shorten(f"{type(exc).__name__}: {first}", 240),
                              hint=f"backend {keras.backend.backend()}") from None
        return Path(path).read_bytes()


@contextlib.contextmanager
def _converter_logs_to(path: Path) -> Iterator[None]:
    """Send what the converter's C++ code prints on file descriptor 2 (MLIR dumps, quantizer notices) to
    ``path``: the command line's error stays one line. Python's own ``sys.stderr`` is untouched."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def gzip_size(data: bytes) -> int:
    """Size of ``data`` gzip-compressed at level 9: how much a file of zeros and repeated values really
    weighs on the wire (the pruned model's zeros cost bytes in the flatbuffer, not once compressed)."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _interpreter(data: bytes) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the 'compress' extra is not installed: TensorFlow's own copy
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=data, num_threads=1)


class LiteRTModel:
    """Runs a LiteRT flatbuffer with the LiteRT interpreter (``ai_edge_litert``, else ``tf.lite``), one example
    at a time, quantizing the input and de-quantizing the output when the model has integer ends."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.interpreter = _interpreter(data)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        return x.astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if np.issubdtype(self.output["dtype"], np.integer):
            scale, zero = self.output["quantization"]
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def run_one(self, x: np.ndarray) -> np.ndarray:
        """The output for one example ``x`` (no batch axis)."""
        self.interpreter.set_tensor(self.input["index"], self._quantize(np.asarray(x, np.float32)[None]))
        self.interpreter.invoke()
        return self._dequantize(self.interpreter.get_tensor(self.output["index"]))[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs for every example of ``x`` (run one by one, as deployed)."""
        return np.stack([self.run_one(row) for row in np.asarray(x, np.float32)])

    def latency_ms(self, x: np.ndarray, repeats: int = 5) -> float:
        """Median over ``repeats`` passes of the mean batch-1 latency over the examples of ``x``, in ms."""
        return time_per_example(self.run_one, x, repeats)


def time_per_example(fn: Any, x: np.ndarray, repeats: int = 5) -> float:
    """Median over ``repeats`` passes of the mean time of ``fn(example)`` over the rows of ``x``, in ms
    (one warm-up call first)."""
    rows = np.asarray(x, np.float32)
    fn(rows[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for row in rows:
            fn(row)
        times.append((time.perf_counter() - start) / len(rows) * 1e3)
    return float(statistics.median(times))
