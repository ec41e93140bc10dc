"""Shared by the compress tests: a tiny digits recipe with an ``[export]`` section."""

import pytest

from kerastricks.recipes import recipe_from_dict


@pytest.fixture
def export_recipe():
    """``export_recipe(**export)``: a one-epoch digits MLP recipe whose ``[export]`` section is ``export``."""

    def make(**export):
        return recipe_from_dict({
            "data": {"name": "digits", "validation_split": 0.1},
            "model": {"name": "mlp", "width": 16, "depth": 1},
            "train": {"epochs": 1, "batch_size": 64, "tensorboard": False, "plots": False},
            "export": export,
        }, source="export.toml")

    return make
