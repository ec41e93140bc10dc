"""resampling: a long-tailed run through the Trainer."""

import numpy as np

from kerastricks.train import Trainer


def test_resampling_runs_through_the_trainer(lt_recipe):
    report = Trainer(lt_recipe({"resampling": {"mode": "progressive"}}), write=False, verbose=0).fit().report
    assert report["steps_per_epoch"] == int(np.ceil(report["dataset"]["n_train"] / 32))
    assert len(report["techniques"]["resampling"]["class_counts"]) == 10
