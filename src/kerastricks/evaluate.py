"""Evaluate a finished (or interrupted) run's ``model.keras`` on its test set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerastricks.errors import RunDirError


def evaluate_run(run_dir: str | Path) -> dict[str, Any]:
    """Reload the run's recipe, data and best model; return its test metrics."""
    import keras

    from kerastricks.recipes import load_recipe
    from kerastricks.train import MODEL_FILE, RECIPE_FILE, evaluate_model, load_recipe_dataset

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError("not a directory", file=str(run_dir))
    for name in (RECIPE_FILE, MODEL_FILE):
        if not (run_dir / name).exists():
            raise RunDirError("not a kerastricks run directory", file=str(run_dir),
                              expected=f"{RECIPE_FILE} and {MODEL_FILE}", received=f"no {name}")
    recipe = load_recipe(run_dir / RECIPE_FILE)
    try:
        model = keras.saving.load_model(run_dir / MODEL_FILE)
    except Exception as exc:
        raise RunDirError(f"cannot load model ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
                          file=str(run_dir / MODEL_FILE)) from None
    dataset = load_recipe_dataset(recipe)
    return evaluate_model(model, dataset, batch_size=max(256, int(recipe.train["batch_size"])))
