"""Evaluate a finished (or interrupted) run's ``model.keras`` on its test set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerastricks.errors import RunDirError, shorten


def check_run(run_dir: str | Path) -> Any:
    """Check (without importing Keras) that ``run_dir`` holds a finished run; return its recipe."""
    from kerastricks.recipes import load_recipe
    from kerastricks.rundir import MODEL_FILE, RECIPE_FILE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError("not a directory", file=str(run_dir))
    for name in (RECIPE_FILE, MODEL_FILE):
        if not (run_dir / name).exists():
            raise RunDirError("not a kerastricks run directory", file=str(run_dir),
                              expected=f"{RECIPE_FILE} and {MODEL_FILE}", received=f"no {name}")
    return load_recipe(run_dir / RECIPE_FILE)


def check_resumable(run_dir: str | Path) -> Any:
    """Check (without importing Keras) that ``run_dir`` is an unfinished run; return its recipe."""
    from kerastricks.recipes import load_recipe
    from kerastricks.rundir import RECIPE_FILE, REPORT_FILE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError("not a directory", file=str(run_dir), key="--resume")
    if not (run_dir / RECIPE_FILE).exists():
        raise RunDirError("not a kerastricks run directory", file=str(run_dir), key="--resume",
                          expected=f"a directory with {RECIPE_FILE}", received="no recipe.toml")
    if (run_dir / REPORT_FILE).exists():
        raise RunDirError("run is already complete (report.json exists); nothing to resume",
                          file=str(run_dir), key="--resume")
    return load_recipe(run_dir / RECIPE_FILE)


def evaluate_run(run_dir: str | Path, recipe: Any = None) -> dict[str, Any]:
    """Reload the run's recipe, data and best model; return its test metrics."""
    from kerastricks.runtime import prepared

    recipe = recipe if recipe is not None else check_run(run_dir)
    with prepared(recipe.train, file=recipe.source):  # the trainer's runtime: threads, seed, determinism, policy
        return _evaluate(Path(run_dir), recipe)


def _evaluate(run_dir: Path, recipe: Any) -> dict[str, Any]:
    import keras

    from kerastricks.build import load_recipe_dataset
    from kerastricks.report import evaluate_model
    from kerastricks.rundir import MODEL_FILE

    try:
        model = keras.saving.load_model(run_dir / MODEL_FILE)
    except Exception as exc:
        raise RunDirError(f"cannot load model ({type(exc).__name__}: {shorten(str(exc), 120)})",
                          file=str(run_dir / MODEL_FILE)) from None
    dataset = load_recipe_dataset(recipe)
    expected_in, got_in = tuple(model.input_shape[1:]), tuple(dataset.input_shape)
    expected_out = model.output_shape[-1]
    if expected_in != got_in or expected_out != dataset.output_dim:
        raise RunDirError("the run's data no longer fits its model", file=str(run_dir / MODEL_FILE),
                          expected=f"inputs {expected_in} with {expected_out} outputs",
                          received=f"inputs {got_in} with {dataset.output_dim} outputs ({recipe.data['name']})")
    return evaluate_model(model, dataset, batch_size=max(256, int(recipe.train.batch_size)))
