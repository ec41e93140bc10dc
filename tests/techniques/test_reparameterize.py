"""The reparameterize technique: deploy model checked against the trained one, saved next to model.keras."""

import keras
import numpy as np

from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer


def test_deploy_model_matches_saved_model_and_is_plain_keras(tmp_path):
    recipe = recipe_from_dict(
        {
            "data": {"name": "digits", "validation_split": 0.2},
            "model": {"name": "cnn2d", "width": 4, "depth": 1, "convs_per_stage": 1, "conv": "acb"},
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "train": {"epochs": 1, "batch_size": 64, "tensorboard": False, "plots": False,
                      "monitor": "val_accuracy"},
            "techniques": {"reparameterize": {"check_examples": 64}},
        },
        source="rep.toml",
    )
    out = tmp_path / "run"
    result = Trainer(recipe, out=out, verbose=0).fit()
    notes = result.report["techniques"]["reparameterize"]
    assert notes["blocks_fused"] == 1 and notes["norms_folded"] == 1  # the ACBlock and the BN after it
    assert notes["deploy_params"] < notes["params"] == result.report["params"]
    assert notes["checked_examples"] == 64 and notes["matches"] and notes["max_rel_diff"] < 1e-4
    assert notes["deploy_model"] == "model_deploy.keras"
    # the deploy file holds public Keras layers only and computes what model.keras computes
    deploy = keras.models.load_model(out / "model_deploy.keras", safe_mode=True)
    assert all(type(layer).__module__.startswith("keras") for layer in deploy.layers)
    trained = keras.models.load_model(out / "model.keras")
    x = np.random.default_rng(0).normal(size=(8, 8, 8)).astype("float32")
    np.testing.assert_allclose(deploy.predict(x, verbose=0), trained.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
