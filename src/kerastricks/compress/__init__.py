"""Compression workflow (``kt.compress``): pruning, post-training quantization, LiteRT export, measured.

- :func:`convert`, :func:`converter_options`, :class:`LiteRTModel`, :func:`gzip_size` -- LiteRT conversion
  (through Keras's ``model.export(format="litert")``) and the interpreter.
- :func:`size_breakdown`, :func:`format_breakdown` -- where the bytes of a LiteRT file go (weights, constants,
  quantization parameters, names, metadata, graph), raw and gzip.
- :func:`compress_model`, :func:`compress_run`, :class:`CompressSettings` -- what ``kerastricks compress``
  and a recipe's ``[export]`` table run. See ``docs/techniques/quantization.md``.
"""

from kerastricks.compress.breakdown import format_breakdown, size_breakdown
from kerastricks.compress.litert import QUANTIZE_MODES, LiteRTModel, convert, converter_options, gzip_size
from kerastricks.compress.workflow import (
    DEFAULT_CALIBRATION,
    REPORT_FILE,
    TFLITE_FILE,
    CompressSettings,
    calibration_examples,
    compress_model,
    compress_run,
    format_report,
)

__all__ = [
    "DEFAULT_CALIBRATION",
    "QUANTIZE_MODES",
    "REPORT_FILE",
    "TFLITE_FILE",
    "CompressSettings",
    "LiteRTModel",
    "calibration_examples",
    "compress_model",
    "compress_run",
    "convert",
    "converter_options",
    "format_breakdown",
    "format_report",
    "gzip_size",
    "size_breakdown",
]
