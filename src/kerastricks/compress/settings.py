"""The recipe's ``[export]`` table: validated with the other sections, before anything heavy (no Keras)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from kerastricks.errors import ConfigError
from kerastricks.validation import Fraction, PositiveInt


def export_settings(
    *,
    quantize: Literal["none", "dynamic", "float16", "int8"] = "int8",
    calibration: Optional[PositiveInt] = None,
    prune_to: Optional[Fraction] = None,
    layers: Optional[list[str]] = None,
) -> None:
    """``[export]`` keys: after training, the run's model is written as ``export/model.tflite`` with
    ``export/report.json``, exactly as ``kerastricks compress RUN_DIR --out RUN_DIR/export`` would.

    Args:
        quantize: ``"none"`` (float32), ``"dynamic"``, ``"float16"`` or ``"int8"`` (full-integer).
        calibration: Training examples that calibrate int8; default 1000 (or all, if fewer).
        prune_to: One-shot magnitude pruning to this sparsity in [0, 1) before quantization.
        layers: Globs of the layers ``prune_to`` prunes; default every Dense/Conv but the first conv and the
            classifier.
    """


def check_export_section(table: Any, recipe: Any, file: str | None) -> dict[str, Any]:
    """The validated ``[export]`` table (defaults filled in); the run must use the TensorFlow backend."""
    from kerastricks.validation import validate_options

    if not isinstance(table, dict):
        raise ConfigError(file=file, key="export", expected="a table", received=table)
    options = validate_options(export_settings, dict(table), section="export", file=file, fill_defaults=True)
    backend = recipe.train.backend
    if backend not in (None, "tensorflow"):
        raise ConfigError("the LiteRT converter runs on TensorFlow", file=file, key="export",
                          expected="train.backend = 'tensorflow' (or export later with kerastricks compress)",
                          received=f"train.backend = '{backend}'")
    return options
