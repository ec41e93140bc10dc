"""drw (deferred re-weighting): a long-tailed run through the Trainer."""

from kerastricks.train import Trainer


def test_drw_runs_through_the_trainer(lt_recipe):
    report = Trainer(lt_recipe({"drw": {}}, loss={"name": "ldam", "scale": 1.0}, epochs=4), write=False,
                     verbose=0).fit().report
    assert report["techniques"]["drw"]["start_epoch"] == 3
