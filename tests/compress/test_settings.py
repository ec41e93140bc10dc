"""The recipe's ``[export]`` table: bad values and a backend the converter cannot use are refused when the recipe is
read; data-dependent errors come before training, and nothing is written."""

import pytest

from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer


def test_recipe_export_errors_come_before_training(tmp_path, export_recipe):
    with pytest.raises(ConfigError, match="export.quantize"):
        export_recipe(quantize="int4")
    with pytest.raises(ConfigError, match="train.backend"):
        recipe_from_dict({"data": {"name": "digits"}, "train": {"backend": "jax"}, "export": {}}, source="e.toml")
    with pytest.raises(ConfigError, match="export.calibration.*at most") as info:
        Trainer(export_recipe(calibration=100000), out=tmp_path / "run", verbose=0).fit()
    assert info.value.file == "export.toml" and not (tmp_path / "run").exists()
