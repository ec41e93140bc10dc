"""``kerastricks compress``: a finished run's model, pruned and quantized, as a LiteRT file with a measured report.

The float baseline is the float32 LiteRT model of the same network (no optimizer state, no training
config), never the ``.keras`` file: sizes compare like with like. Both LiteRT models run on the run's test
set through the LiteRT interpreter, one example at a time as on a device.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from kerastricks.errors import ConfigError, RunDirError, shorten

#: Files ``compress`` writes into its output directory.
TFLITE_FILE = "model.tflite"
REPORT_FILE = "report.json"
#: Default number of calibration examples for full-integer int8 (all of the training data if it has fewer).
DEFAULT_CALIBRATION = 1000
#: Test examples timed for batch-1 latency.
LATENCY_EXAMPLES = 200


@dataclasses.dataclass(frozen=True)
class CompressSettings:
    """What to do to the model: the ``compress`` command line, or a recipe's ``[export]`` table.

    Attributes:
        quantize: ``"none"``, ``"dynamic"``, ``"float16"`` or ``"int8"`` (see
            :func:`kerastricks.compress.converter_options`).
        calibration: Training examples that calibrate int8 activation ranges (``None``: at most
            :data:`DEFAULT_CALIBRATION`).
        prune_to: One-shot magnitude pruning to this sparsity before quantization (``None``: none).
        layers: Globs of the layers ``prune_to`` prunes (``None``: all Dense/Conv but the first conv and the
            classifier).
    """

    quantize: str = "int8"
    calibration: int | None = None
    prune_to: float | None = None
    layers: tuple[str, ...] | None = None

    def check(self, *, key_prefix: str = "--", file: str | None = None) -> None:
        """Raise ``ConfigError`` for a value out of range (before anything heavy)."""
        from kerastricks.compress.litert import QUANTIZE_MODES

        def key(name: str) -> str:
            return f"{key_prefix}{name.replace('_', '-') if key_prefix == '--' else name}"

        if self.quantize not in QUANTIZE_MODES:
            raise ConfigError(file=file, key=key("quantize"), expected=f"one of {', '.join(QUANTIZE_MODES)}",
                              received=self.quantize)
        if self.prune_to is not None and not (isinstance(self.prune_to, (int, float)) and
                                              math.isfinite(self.prune_to) and 0 <= self.prune_to < 1):
            raise ConfigError(file=file, key=key("prune_to"), expected="a sparsity in [0, 1)", received=self.prune_to)
        if self.calibration is not None and (not isinstance(self.calibration, int) or self.calibration < 1):
            raise ConfigError(file=file, key=key("calibration"), expected="an integer >= 1",
                              received=self.calibration)


def check_out(out: Path) -> None:
    """``out`` must be absent or empty; nothing the user has is overwritten."""
    from kerastricks.rundir import check_out_dir

    check_out_dir(out, hint="choose a new --out")


def default_out(run_dir: Path, settings: CompressSettings) -> Path:
    name = f"compress-{settings.quantize}"
    if settings.prune_to:
        name += f"-pruned{settings.prune_to:g}"
    return Path(run_dir) / name


def calibration_examples(x_train: np.ndarray, n: int | None, seed: int, *, key: str = "--calibration") -> np.ndarray:
    """``n`` training examples drawn without replacement (seeded), the calibration set of int8."""
    total = len(x_train)
    if n is None:
        n = min(DEFAULT_CALIBRATION, total)
    if n > total:
        raise ConfigError("more calibration examples than training data", key=key,
                          expected=f"at most {total} (the run's training examples)", received=n)
    idx = np.random.default_rng(seed).choice(total, size=n, replace=False)
    return np.asarray(x_train[np.sort(idx)], dtype=np.float32)


def keras_latency_ms(model: Any, x: np.ndarray, repeats: int = 3) -> float:
    """Batch-1 latency of the Keras model called eagerly (``model(x, training=False)``), in ms."""
    from kerastricks.compress.litert import time_per_example

    return time_per_example(lambda row: model(row[None], training=False), x, repeats)


def measure_litert(data: bytes, x_test: np.ndarray, y_test: np.ndarray, *, latency_examples: int = LATENCY_EXAMPLES,
                   repeats: int = 3) -> tuple[dict[str, Any], np.ndarray]:
    """Accuracy, sizes and batch-1 latency of a LiteRT flatbuffer; also its test predictions."""
    from kerastricks.compress.litert import LiteRTModel, gzip_size

    runner = LiteRTModel(data)
    pred = np.argmax(runner.predict(x_test), axis=-1)
    row = {"accuracy": float(np.mean(pred == np.asarray(y_test).reshape(-1))), "size_bytes": len(data),
           "size_gzip_bytes": gzip_size(data),
           "latency_ms": runner.latency_ms(x_test[:latency_examples], repeats)}
    return row, pred


def compress_model(model: Any, dataset: Any, settings: CompressSettings, *, seed: int = 0,
                   latency_repeats: int = 3) -> tuple[bytes, dict[str, Any]]:
    """Strip pruning wrappers, optionally prune to ``settings.prune_to``, convert to float32 and to the
    compressed LiteRT model, and measure both on ``dataset``'s test set.

    Returns:
        The compressed flatbuffer and the report (``float``, ``compressed``, ``keras``, ``agreement``,
        ``ratios``, ``sparsity``, ``keras_int8``, ``size_breakdown``: where the compressed file's bytes go, see
        :func:`kerastricks.compress.size_breakdown`).
    """
    import keras

    from kerastricks.compress.breakdown import size_breakdown
    from kerastricks.compress.litert import convert
    from kerastricks.pruning import prune_weights, sparsity_summary, strip_pruning

    if dataset.task != "classification":
        raise ConfigError("compress measures classification accuracy", key="data",
                          expected="a classification dataset", received=dataset.task)
    model = strip_pruning(model)
    if settings.prune_to:
        model = prune_weights(model, float(settings.prune_to), settings.layers)
    calib = None
    if settings.quantize == "int8":
        calib = calibration_examples(dataset.x_train, settings.calibration, seed)
    x_test, y_test = np.asarray(dataset.x_test, np.float32), np.asarray(dataset.y_test).reshape(-1)
    keras_pred = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=-1)
    float_data = convert(model, "none")
    float_row, pred = measure_litert(float_data, x_test, y_test, repeats=latency_repeats)
    float_row["format"] = "litert float32" + (f" pruned {settings.prune_to:g}" if settings.prune_to else "")
    data, row = float_data, dict(float_row)
    if settings.quantize != "none":
        data = convert(model, settings.quantize, calib)
        row, pred = measure_litert(data, x_test, y_test, repeats=latency_repeats)
        row["format"] = f"litert {settings.quantize}" + (f" pruned {settings.prune_to:g}" if settings.prune_to
                                                          else "")
    report: dict[str, Any] = {
        "quantize": settings.quantize,
        "calibration": None if calib is None else len(calib),
        "prune_to": settings.prune_to,
        "float": float_row,
        "compressed": row,
        "keras": {"accuracy": float(np.mean(keras_pred == y_test)),
                  "latency_ms": keras_latency_ms(model, x_test[:20], latency_repeats), "call": "eager, batch 1"},
        "agreement": float(np.mean(pred == keras_pred)),
        "ratios": {"size_bytes": row["size_bytes"] / float_row["size_bytes"],
                   "size_gzip_bytes": row["size_gzip_bytes"] / float_row["size_gzip_bytes"],
                   "latency_ms": row["latency_ms"] / float_row["latency_ms"],
                   "accuracy_points": 100 * (row["accuracy"] - float_row["accuracy"])},
        "sparsity": sparsity_summary(model),
        "test_examples": len(x_test),
    }
    report["keras_int8"] = _keras_int8(model, x_test, y_test, keras)
    report["size_breakdown"] = size_breakdown(data)
    return data, report


def _keras_int8(model: Any, x_test: np.ndarray, y_test: np.ndarray, keras: Any) -> dict[str, Any]:
    """Keras's own ``model.quantize("int8")`` (Dense/EinsumDense/Embedding only; it leaves convolutions in
    float), measured on a copy: what it quantized and the test accuracy."""
    import warnings

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    try:
        with warnings.catch_warnings():  # one warning per layer it skips (convolutions, norms, ...)
            warnings.simplefilter("ignore")
            copy.quantize("int8")
    except Exception as exc:  # a model Keras cannot quantize: reported, not fatal
        return {"applied": False, "reason": shorten(f"{type(exc).__name__}: {exc}", 160)}
    quantized = [layer.name for layer in copy.layers if getattr(layer, "quantization_mode", None) == "int8"]
    pred = np.argmax(copy.predict(x_test, batch_size=256, verbose=0), axis=-1)
    return {"applied": bool(quantized), "layers": quantized, "accuracy": float(np.mean(pred == y_test))}


def compress_run(run_dir: str | Path, settings: CompressSettings, out: str | Path | None = None,
                 recipe: Any = None) -> dict[str, Any]:
    """Compress the ``model.keras`` of a finished run into ``out`` (``model.tflite``, ``report.json``).

    The run's recipe gives the data (same split and normalization as in training) and the runtime (threads,
    seed, determinism), on the TensorFlow backend whatever the run used (the converter needs it).
    """
    from kerastricks import io as kio
    from kerastricks.evaluate import check_run
    from kerastricks.rundir import MODEL_FILE
    from kerastricks.runtime import prepared

    run_dir = Path(run_dir)
    recipe = recipe if recipe is not None else check_run(run_dir)
    settings.check()
    out = Path(out) if out is not None else default_out(run_dir, settings)
    check_out(out)
    train = dataclasses.replace(recipe.train, backend="tensorflow", precision="float32", jit_compile=False)
    with prepared(train, file=recipe.source):
        import keras

        from kerastricks.build import load_recipe_dataset

        dataset = load_recipe_dataset(recipe)
        if settings.quantize == "int8":  # before loading and converting: one line, nothing written
            calibration_examples(dataset.x_train, settings.calibration, int(recipe.train.seed))
        try:
            model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
        except Exception as exc:
            raise RunDirError(f"cannot load model ({type(exc).__name__}: {shorten(str(exc), 120)})",
                              file=str(run_dir / MODEL_FILE)) from None
        if settings.prune_to:
            from kerastricks.pruning import select_layers, strip_pruning

            select_layers(strip_pruning(model), settings.layers, key="--layers")
        data, report = compress_model(model, dataset, settings, seed=int(recipe.train.seed))
    report = {"run_dir": str(run_dir), "out": str(out), **report}
    out.mkdir(parents=True, exist_ok=True)
    _write_bytes(out / TFLITE_FILE, data)
    kio.write_json(out / REPORT_FILE, report)
    return report


#: Where a recipe's ``[export]`` writes, inside the run directory.
EXPORT_DIR = "export"


def export_settings_of(recipe: Any) -> CompressSettings:
    table = recipe.export
    return CompressSettings(quantize=table["quantize"], calibration=table.get("calibration"),
                            prune_to=table.get("prune_to"),
                            layers=tuple(table["layers"]) if table.get("layers") else None)


def check_export(recipe: Any, dataset: Any, model: Any) -> None:
    """The ``[export]`` checks that need the data and the model (the trainer runs them before training)."""
    settings = export_settings_of(recipe)
    if dataset.task != "classification":
        raise ConfigError("export measures classification accuracy", file=recipe.source, key="export",
                          expected="a classification dataset", received=dataset.task)
    if settings.quantize == "int8":
        try:
            calibration_examples(dataset.x_train, settings.calibration, int(recipe.train.seed),
                                 key="export.calibration")
        except ConfigError as exc:
            raise exc.with_context(file=recipe.source) from None
    if settings.prune_to:
        from kerastricks.pruning import select_layers, strip_pruning

        try:
            select_layers(strip_pruning(model), settings.layers, key="export.layers")
        except ConfigError as exc:
            raise exc.with_context(file=recipe.source) from None


def export_after_training(model: Any, dataset: Any, recipe: Any, run_dir: Path) -> dict[str, Any]:
    """``[export]``: write ``RUN_DIR/export/model.tflite`` and ``report.json``; return the summary that goes
    into the run's report."""
    from kerastricks import io as kio

    settings = export_settings_of(recipe)
    data, report = compress_model(model, dataset, settings, seed=int(recipe.train.seed))
    out = Path(run_dir) / EXPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    report = {"run_dir": str(run_dir), "out": str(out), **report}
    _write_bytes(out / TFLITE_FILE, data)
    kio.write_json(out / REPORT_FILE, report)
    return {"file": f"{EXPORT_DIR}/{TFLITE_FILE}", "quantize": settings.quantize,
            **{k: report[k] for k in ("float", "compressed", "agreement", "ratios")}}


def _write_bytes(path: Path, data: bytes) -> None:
    from kerastricks import io as kio

    with kio.atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def format_report(report: dict[str, Any]) -> str:
    """The table ``kerastricks compress`` prints."""
    rows = [("keras (float32, eager)", report["keras"]["accuracy"], None, None, report["keras"]["latency_ms"]),
            (report["float"]["format"], report["float"]["accuracy"], report["float"]["size_bytes"],
             report["float"]["size_gzip_bytes"], report["float"]["latency_ms"]),
            (report["compressed"]["format"], report["compressed"]["accuracy"], report["compressed"]["size_bytes"],
             report["compressed"]["size_gzip_bytes"], report["compressed"]["latency_ms"])]
    lines = [f"{'model':<32} {'accuracy':>8} {'bytes':>10} {'gzip bytes':>10} {'batch-1 ms':>10}"]
    for name, acc, size, gz, lat in rows:
        lines.append(f"{name:<32} {acc:>8.4f} {'-' if size is None else f'{size:,}':>10} "
                     f"{'-' if gz is None else f'{gz:,}':>10} {lat:>10.3f}")
    r = report["ratios"]
    lines.append(f"compressed / float LiteRT: gzip size x{r['size_gzip_bytes']:.3f}, latency x{r['latency_ms']:.2f}, "
                 f"accuracy {r['accuracy_points']:+.2f} points; predictions agree with Keras on "
                 f"{100 * report['agreement']:.1f}% of {report['test_examples']} test examples")
    if "size_breakdown" in report:  # reports written before it existed lack it
        parts = report["size_breakdown"]["parts"]
        lines.append("compressed gzip bytes by part: " + ", ".join(f"{part} {sizes['gzip_bytes']:,}"
                                                                   for part, sizes in parts.items()))
    return "\n".join(lines)
