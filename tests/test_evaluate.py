"""`kerastricks evaluate`: the run-directory checks made before Keras, and a saved model's test metrics against
numpy (the same checks at the command line: tests/test_bad_input.py)."""

import keras
import numpy as np
import pytest

from kerastricks.build import load_recipe_dataset
from kerastricks.errors import RunDirError
from kerastricks.evaluate import check_resumable, check_run, evaluate_run
from kerastricks.recipes import recipe_from_dict

RECIPE = recipe_from_dict({"data": {"name": "digits", "validation_split": 0.1},
                           "model": {"name": "mlp", "width": 8, "depth": 1}}, source="r.toml")


def _run_dir(path, *, recipe=True, model=None, report=False):
    path.mkdir(parents=True)
    if recipe:
        (path / "recipe.toml").write_text(RECIPE.to_toml())
    if isinstance(model, keras.Model):
        model.save(path / "model.keras")
    elif model is not None:  # bytes: a file that is no model
        (path / "model.keras").write_bytes(model)
    if report:
        (path / "report.json").write_text("{}")
    return path


def test_check_run_needs_a_directory_with_recipe_and_model(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for where, fragment in ((tmp_path / "nowhere", "not a directory"), (afile, "not a directory")):
        with pytest.raises(RunDirError, match=fragment) as info:
            check_run(where)
        assert info.value.file == str(where)
    no_model = _run_dir(tmp_path / "no_model")
    with pytest.raises(RunDirError, match="not a kerastricks run directory") as info:
        check_run(no_model)
    assert (info.value.expected, info.value.received) == ("recipe.toml and model.keras", "no model.keras")
    no_recipe = _run_dir(tmp_path / "no_recipe", recipe=False, model=b"x")
    with pytest.raises(RunDirError) as info:
        check_run(no_recipe)
    assert info.value.received == "no recipe.toml"
    assert check_run(_run_dir(tmp_path / "ok", model=b"x")).to_toml() == RECIPE.to_toml()


def test_check_resumable_needs_an_unfinished_run(tmp_path):
    unfinished = _run_dir(tmp_path / "unfinished")
    assert check_resumable(unfinished).to_toml() == RECIPE.to_toml()
    for path, fragment in ((_run_dir(tmp_path / "done", report=True), "already complete"),
                           (_run_dir(tmp_path / "empty", recipe=False), "not a kerastricks run directory"),
                           (tmp_path / "nowhere", "not a directory")):
        with pytest.raises(RunDirError, match=fragment) as info:
            check_resumable(path)
        assert (info.value.file, info.value.key) == (str(path), "--resume")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A run directory whose model.keras is a linear classifier with random weights (no training)."""
    data = load_recipe_dataset(RECIPE)
    model = keras.Sequential([keras.Input(data.input_shape), keras.layers.Flatten(), keras.layers.Dense(10)])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return _run_dir(tmp_path_factory.mktemp("evaluate") / "run", model=model), model.get_weights(), data


def test_evaluate_run_gives_the_saved_models_test_metrics(saved):
    run, (kernel, bias), data = saved
    got = evaluate_run(run)
    logits = data.x_test.reshape(len(data.x_test), -1).astype(np.float64) @ kernel + bias
    m = logits.max(-1, keepdims=True)
    log_p = logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))
    assert got["examples"] == len(data.y_test)
    assert got["accuracy"] == pytest.approx(np.mean(logits.argmax(-1) == data.y_test))
    assert got["loss"] == pytest.approx(-log_p[np.arange(len(data.y_test)), data.y_test].mean(), rel=1e-4)


def test_evaluate_run_refuses_a_model_the_data_no_longer_fits_or_a_broken_file(saved, tmp_path):
    run, _, _ = saved
    fewer = recipe_from_dict({**RECIPE.to_dict(), "data": {"name": "digits", "validation_split": 0.1,
                                                             "classes": [0, 1]}}, source="r.toml")
    with pytest.raises(RunDirError, match="the run's data no longer fits its model") as info:
        evaluate_run(run, recipe=fewer)
    assert info.value.file == str(run / "model.keras")
    assert (info.value.expected, info.value.received) == ("inputs (8, 8, 1) with 10 outputs",
                                                          "inputs (8, 8, 1) with 2 outputs (digits)")
    broken = _run_dir(tmp_path / "broken", model=b"PK\x03\x04 torn")
    with pytest.raises(RunDirError, match="cannot load model") as info:
        evaluate_run(broken)
    assert info.value.file == str(broken / "model.keras")
