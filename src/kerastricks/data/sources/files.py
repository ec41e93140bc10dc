"""The user's own files: ``npz:PATH``, ``csv:PATH`` and ``folder:PATH`` (image folders).

Paths are relative to the current working directory. Every problem with a file
(missing, unreadable, wrong arrays or columns, unusable labels) is one
:class:`~kerastricks.errors.DataError` naming the file.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from kerastricks.data.base import Dataset, ensure_channel_axis, split_indices
from kerastricks.data.datasets import TEST_SPLIT_SEED, existing_path
from kerastricks.errors import DataError, shorten
from kerastricks.validation import PositiveInt

# Option types of the file loaders.
TaskOption = Literal["auto", "classification", "regression"]
HoldOutFraction = Annotated[float, Field(gt=0, lt=1)]
ColorMode = Literal["rgb", "grayscale", "rgba"]
ImageSize = Annotated[tuple[PositiveInt, ...], Field(min_length=2, max_length=2)]


def _is_integral(y: np.ndarray) -> bool:
    if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        return True
    if not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0))


def _is_one_hot(y: np.ndarray) -> bool:
    return (
        y.ndim == 2
        and y.shape[1] >= 2
        and bool(np.all((y == 0) | (y == 1)))
        and bool(np.all(y.sum(axis=1) == 1))
    )


def _resolve_targets(
    y_train: np.ndarray,
    y_test: np.ndarray,
    *,
    task: str,
    num_classes: int | None,
    file: str,
) -> tuple[np.ndarray, np.ndarray, str, int | None, list[str] | None]:
    """Decide the task and turn targets into labels (classification) or floats.

    One-hot ``(N, C)`` targets become labels; ``(N, 1)`` labels are flattened;
    ``task="auto"`` picks classification for integer-valued labels.
    """
    width = None
    one_hot = _is_one_hot(y_train) and _is_one_hot(y_test) and y_train.shape[1] == y_test.shape[1]
    if task != "regression" and one_hot:
        width = y_train.shape[1]
        y_train, y_test = y_train.argmax(axis=1), y_test.argmax(axis=1)
        task = "classification"
    elif task != "regression" and y_train.ndim == 2 and y_train.shape[1] == 1 and y_test.shape[1:] == (1,):
        y_train, y_test = y_train[:, 0], y_test[:, 0]
    if task == "auto":
        integral = y_train.ndim == 1 and _is_integral(y_train) and _is_integral(y_test)
        task = "classification" if integral else "regression"
    if task == "regression":
        return y_train, y_test, task, None, None
    if y_train.ndim != 1 or y_test.ndim != 1:
        raise DataError(
            "classification labels must be 1-D integers or one-hot rows",
            file=file,
            received=f"y_train shape {tuple(y_train.shape)}",
        )
    if not (_is_integral(y_train) and _is_integral(y_test)):
        raise DataError(
            "classification labels must be integers", file=file, received=f"dtype {y_train.dtype}"
        )
    low = min(y_train.min(initial=0), y_test.min(initial=0))
    if low < 0:
        raise DataError("classification labels must be >= 0", file=file, received=f"label {int(low)}")
    needed = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    needed = max(needed, width or 0)
    if num_classes is None:
        num_classes = needed
    elif num_classes < needed:
        raise DataError(
            f"labels go up to {needed - 1}",
            file=file,
            key="data.num_classes",
            expected=f">= {needed}",
            received=num_classes,
        )
    return y_train, y_test, task, int(num_classes), [str(i) for i in range(num_classes)]


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(
    path: str,
    *,
    task: TaskOption = "auto",
    num_classes: PositiveInt | None = None,
    add_channel_axis: bool = True,
) -> Dataset:
    """Arrays ``x_train, y_train, x_test, y_test`` from a ``.npz`` file (other keys ignored).

    Targets: integer labels mean classification with ``max + 1`` classes (or
    ``num_classes``); one-hot rows are turned into labels; non-integer floats
    mean regression. ``(N, H, W)`` images get a channel axis; flat ``(N, F)``
    inputs stay as given. ``normalize="auto"`` scales uint8 inputs by 1/255
    and standardizes anything else.

    Args:
        path: The ``.npz`` file, relative to the working directory.
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        num_classes: Number of classes when some never occur (>= max label + 1).
        add_channel_axis: Turn 3-D ``(N, H, W)`` inputs into ``(N, H, W, 1)``;
            set ``false`` for ``(N, steps, features)`` sequences.

    Raises:
        DataError: missing file, not an npz archive, missing array, mismatched
            lengths or shapes, unusable labels; the message names the file.
    """
    p = existing_path(path, "file")
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise DataError("not a readable .npz archive", file=path, received=_reason(exc)) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            "not an .npz archive",
            file=path,
            expected=f"arrays {', '.join(_NPZ_KEYS)}",
            received="a single .npy array",
        )
    with archive:
        found = list(archive.files)
        arrays = {}
        for key in _NPZ_KEYS:
            if key not in found:
                raise DataError(
                    f"missing array '{key}'",
                    file=path,
                    expected=f"arrays {', '.join(_NPZ_KEYS)}",
                    received=f"arrays {', '.join(found) or '(none)'}",
                )
            try:
                arrays[key] = np.asarray(archive[key])
            except Exception as exc:
                raise DataError(f"array '{key}' cannot be read", file=path, received=_reason(exc)) from None
    x_train, y_train, x_test, y_test = (arrays[k] for k in _NPZ_KEYS)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
            raise DataError(
                f"x_{split} and y_{split} differ in length",
                file=path,
                received=f"x_{split} shape {x.shape}, y_{split} shape {y.shape}",
            )
        if not (np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_)):
            raise DataError(f"x_{split} is not numeric", file=path, received=f"dtype {x.dtype}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            "x_train and x_test samples differ in shape",
            file=path,
            received=f"{x_train.shape[1:]} and {x_test.shape[1:]}",
        )
    if y_train.shape[1:] != y_test.shape[1:]:
        raise DataError(
            "y_train and y_test differ in shape",
            file=path,
            received=f"{y_train.shape[1:]} and {y_test.shape[1:]}",
        )
    default_normalize = "scale255" if x_train.dtype == np.uint8 else "standard"
    y_train, y_test, task, num_classes, class_names = _resolve_targets(
        y_train, y_test, task=task, num_classes=num_classes, file=path
    )
    if x_train.ndim == 1:
        x_train, x_test = x_train[:, None], x_test[:, None]
    elif add_channel_axis:
        x_train, x_test = ensure_channel_axis(x_train), ensure_channel_axis(x_test)
    return Dataset(
        name=f"npz:{path}",
        x_train=x_train, y_train=y_train, x_val=None, y_val=None, x_test=x_test, y_test=y_test,
        task=task,
        num_classes=num_classes,
        class_names=class_names,
        meta={
            "source": "npz",
            "path": str(Path(path).expanduser().resolve()),
            "default_normalize": default_normalize,
        },
    )


def _reason(exc: BaseException) -> str:
    return shorten(str(exc), 160) if str(exc).strip() else type(exc).__name__


def load_csv(
    path: str,
    *,
    label_column: str = "label",
    task: TaskOption = "auto",
    test_fraction: HoldOutFraction = 0.2,
) -> Dataset:
    """A table of numeric features with one label column, read with the ``csv`` module.

    Every column except ``label_column`` is a feature and must hold finite
    numbers. With ``task="auto"``, integer labels mean classification (labels
    used as given; negative ones are mapped in sorted order), other numbers
    mean regression, and any non-numeric label means classification with
    class names sorted alphabetically. A stratified (for classification) test
    set of ``test_fraction`` is split off with seed :data:`TEST_SPLIT_SEED`.
    ``normalize="auto"`` standardizes the features.

    Args:
        path: The ``.csv`` file (comma-separated, first row is the header).
        label_column: Name of the target column, default ``"label"``.
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        test_fraction: Share of rows held out for testing, in ``(0, 1)``.

    Raises:
        DataError: missing file, no such label column (the available columns
            are listed), ragged rows, or a non-numeric cell (line and column named).
    """
    p = existing_path(path, "file")
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            header, rows, labels, lines = _read_csv_rows(csv.reader(f), label_column, path)
    except UnicodeDecodeError as exc:
        raise DataError("not a UTF-8 text file", file=path, received=_reason(exc)) from None
    except csv.Error as exc:
        raise DataError("malformed CSV", file=path, received=_reason(exc)) from None
    features = [c for c in header if c != label_column]
    x = _parse_features(rows, lines, features, path)
    y, task, num_classes, class_names = _parse_labels(labels, lines, task, label_column, path)
    classification = task == "classification"
    train, test = split_indices(y, test_fraction, TEST_SPLIT_SEED, stratify=classification)
    return Dataset(
        name=f"csv:{path}",
        x_train=x[train], y_train=y[train], x_val=None, y_val=None, x_test=x[test], y_test=y[test],
        task=task,
        num_classes=num_classes,
        class_names=class_names,
        meta={
            "source": "csv",
            "path": str(p.resolve()),
            "features": features,
            "label_column": label_column,
            "test_fraction": float(test_fraction),
            "test_seed": TEST_SPLIT_SEED,
            "default_normalize": "standard",
        },
    )


def _read_csv_rows(
    reader: Any, label_column: str, path: str
) -> tuple[list[str], list[list[str]], list[str], list[int]]:
    header = next(reader, None)
    if not header:
        raise DataError("empty file", file=path, expected="a header row", received="no lines")
    header = [h.strip() for h in header]
    if label_column not in header:
        raise DataError(
            f"no column '{label_column}' in the header",
            file=path,
            key="data.label_column",
            expected=f"one of {', '.join(header)}",
            received=label_column,
        )
    if len(header) < 2:
        raise DataError(
            "no feature columns besides the label", file=path, received=f"columns {', '.join(header)}"
        )
    li = header.index(label_column)
    rows, labels, lines = [], [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise DataError(
                f"line {reader.line_num}: {len(row)} cells for {len(header)} columns", file=path
            )
        labels.append(row[li].strip())
        rows.append(row[:li] + row[li + 1 :])
        lines.append(reader.line_num)
    if not rows:
        raise DataError("no data rows after the header", file=path)
    return header, rows, labels, lines


def _parse_features(rows: list[list[str]], lines: list[int], features: list[str], path: str) -> np.ndarray:
    try:
        x = np.array(rows, dtype=np.float64)
        bad = None if np.all(np.isfinite(x)) else np.argwhere(~np.isfinite(x))[0]
    except ValueError:
        bad = None
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    bad = (i, j)
                    break
            if bad is not None:
                break
    if bad is not None:
        i, j = int(bad[0]), int(bad[1])
        raise DataError(
            f"line {lines[i]}, column '{features[j]}': not a finite number",
            file=path,
            received=repr(rows[i][j]),
        )
    return x


def _parse_labels(
    labels: list[str], lines: list[int], task: str, column: str, path: str
) -> tuple[np.ndarray, str, int | None, list[str] | None]:
    for i, label in enumerate(labels):
        if not label:
            raise DataError(f"line {lines[i]}, column '{column}': empty label", file=path)
    ints = _parse_all(labels, int)
    if task == "regression" or (task == "auto" and ints is None and _parse_all(labels, float) is not None):
        values = _parse_all(labels, float)
        if values is None:
            i = next(i for i, s in enumerate(labels) if _parse_all([s], float) is None)
            raise DataError(
                f"line {lines[i]}, column '{column}': regression target is not a number",
                file=path,
                received=repr(labels[i]),
            )
        return np.asarray(values, np.float32), "regression", None, None
    if ints is not None:
        y = np.asarray(ints, np.int64)
        if y.min() >= 0:
            num_classes = int(y.max()) + 1
            return y.astype(np.int32), "classification", num_classes, [str(i) for i in range(num_classes)]
        uniq, y = np.unique(y, return_inverse=True)
        return y.astype(np.int32), "classification", len(uniq), [str(v) for v in uniq]
    names = sorted(set(labels))
    y = np.searchsorted(np.asarray(names), np.asarray(labels))
    return y.astype(np.int32), "classification", len(names), names


def _parse_all(values: list[str], kind: type) -> list[Any] | None:
    try:
        return [kind(v) for v in values]
    except ValueError:
        return None


def load_folder(
    path: str,
    *,
    image_size: ImageSize = (32, 32),
    color_mode: ColorMode = "rgb",
    test_fraction: HoldOutFraction = 0.2,
) -> Dataset:
    """Images in class sub-folders, read with ``keras.utils.image_dataset_from_directory``.

    Layouts: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` give the two
    splits; otherwise ``PATH/<class>/*`` is split with a stratified test set of
    ``test_fraction`` (seed :data:`TEST_SPLIT_SEED`). Class names are the
    folder names, in sorted order. Images are resized to ``image_size`` and
    loaded into memory as float32 in ``[0, 255]`` (``normalize="auto"``
    scales them by 1/255), so this is for data that fits in memory.

    Args:
        path: The image folder.
        image_size: ``[height, width]`` every image is resized to, default ``[32, 32]``.
        color_mode: ``"rgb"`` (3 channels), ``"grayscale"`` (1) or ``"rgba"`` (4).
        test_fraction: Share held out for testing in the single-folder layout.

    Raises:
        DataError: missing folder, no images, unreadable image, or class
            folders of ``test/`` that differ from those of ``train/`` (a test
            class with no folder in ``train/`` would otherwise be dropped).
    """
    root = existing_path(path, "folder")
    read = dict(image_size=tuple(image_size), color_mode=color_mode)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_classes, test_classes = _class_folders(root / "train"), _class_folders(root / "test")
        if train_classes != test_classes:
            raise DataError(
                "class folders of test/ differ from those of train/",
                file=str(root / "test"),
                expected=", ".join(train_classes) or "(none)",
                received=", ".join(test_classes) or "(none)",
            )
        x_train, y_train, names = _read_image_dir(root / "train", None, **read)
        x_test, y_test, _ = _read_image_dir(root / "test", names, **read)
        layout = "train/test"
        split_meta = {}
    else:
        x, y, names = _read_image_dir(root, None, **read)
        train, test = split_indices(y, test_fraction, TEST_SPLIT_SEED, stratify=True)
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
        layout = "single"
        split_meta = {"test_fraction": float(test_fraction), "test_seed": TEST_SPLIT_SEED}
    return Dataset(
        name=f"folder:{path}",
        x_train=x_train, y_train=y_train, x_val=None, y_val=None, x_test=x_test, y_test=y_test,
        task="classification",
        num_classes=len(names),
        class_names=names,
        meta={
            "source": "folder",
            "path": str(root.resolve()),
            "layout": layout,
            "image_size": list(image_size),
            "color_mode": color_mode,
            "default_normalize": "scale255",
            **split_meta,
        },
    )


def _class_folders(directory: Path) -> list[str]:
    """Sub-folder names as Keras infers classes from them (sorted, no hidden ones)."""
    return sorted(d.name for d in directory.iterdir() if d.is_dir() and not d.name.startswith("."))


def _read_image_dir(
    directory: Path, class_names: list[str] | None, *, image_size: tuple[int, int], color_mode: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import keras
    import tensorflow as tf

    try:
        ds = keras.utils.image_dataset_from_directory(
            str(directory),
            labels="inferred",
            label_mode="int",
            class_names=class_names,
            color_mode=color_mode,
            batch_size=256,
            image_size=image_size,
            shuffle=False,
            verbose=False,
        )
    except (ValueError, OSError) as exc:
        if "No images found" in str(exc):
            raise DataError(
                "no images found",
                file=str(directory),
                expected="one sub-folder per class holding .png/.jpg/.jpeg/.bmp/.gif files",
                received="no image files",
            ) from None
        raise DataError("cannot read image folder", file=str(directory), received=_reason(exc)) from None
    xs, ys = [], []
    try:
        for xb, yb in ds.as_numpy_iterator():
            xs.append(xb)
            ys.append(yb)
    except tf.errors.OpError:
        bad = _first_undecodable(ds.file_paths)
        raise DataError(
            "cannot decode image", file=bad or str(directory), expected="PNG, JPEG, GIF or BMP",
            received="a damaged or foreign file"
        ) from None
    return np.concatenate(xs), np.concatenate(ys).astype(np.int32), list(ds.class_names)


def _first_undecodable(paths: list[str]) -> str | None:
    import tensorflow as tf

    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), expand_animations=False)
        except tf.errors.OpError:
            return p
    return None


__all__ = ["load_csv", "load_folder", "load_npz"]
