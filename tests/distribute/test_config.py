"""What each distribution mode refuses at validation (one line naming the key), the process-group variables and
the learning-rate scaling (``kerastricks.distribute.config``)."""

import math

import pytest

from kerastricks.distribute import ProcessGroup, lr_scale_factor
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict


def recipe(train=None, techniques=None, source="r.toml"):
    return recipe_from_dict({"data": {"name": "digits"}, "model": {"name": "mlp", "width": 8, "depth": 1},
                             "train": {"batch_size": 32, **(train or {})}, "techniques": techniques or {}},
                            source=source)


@pytest.mark.parametrize(("train", "key", "words"), [
    ({"distribute": "data_parallel", "backend": "torch"}, "train.distribute", ["'tensorflow'", "'jax'"]),
    ({"distribute": "mirrored", "backend": "torch"}, "train.distribute", ["'tensorflow'", "'jax'"]),
    ({"distribute": "mirrored", "backend": "jax"}, "train.distribute", ["'tensorflow'", "'data_parallel'"]),
    ({"distribute": "data_parallel", "backend": "tensorflow"}, "train.distribute", ["'jax'", "'mirrored'"]),
    ({"devices": 2}, "train.devices", ["'mirrored'", "'data_parallel'"]),
    ({"lr_scaling": "linear"}, "train.lr_scaling", ["'none'"]),
    ({"distribute": "mirrored", "backend": "tensorflow", "devices": 3}, "train.batch_size", ["multiple", "3"]),
    ({"distribute": "sync"}, "train.distribute", ["mirrored"]),
])
def test_refused_at_validation_with_one_line(train, key, words):
    with pytest.raises(ConfigError) as info:
        recipe(train)
    line = info.value.line()
    assert "\n" not in line and line.startswith("r.toml: key ") and f"'{key}'" in line
    assert all(w in line for w in words), line


def test_keras_clipping_refused_under_mirrored_agc_accepted():
    mirrored = {"distribute": "mirrored", "backend": "tensorflow", "devices": 2}
    with pytest.raises(ConfigError, match="techniques.clip.*all-reduce.*'data_parallel' on backend 'jax'"):
        recipe(mirrored, {"clip": {"mode": "global_norm", "threshold": 1.0}})
    assert "clip" in recipe(mirrored, {"clip": {"mode": "agc", "clipping": 0.01}}).techniques
    assert "agc" in recipe(mirrored, {"agc": {}}).techniques
    with pytest.raises(ConfigError, match="techniques.gradient_accumulation.*merge_call"):
        recipe(mirrored, {"gradient_accumulation": {}})
    dp = {"distribute": "data_parallel", "backend": "jax", "devices": 2}
    assert "clip" in recipe(dp, {"clip": {"mode": "global_norm", "threshold": 1.0}}).techniques


def test_accepted_settings_round_trip():
    r = recipe({"distribute": "data_parallel", "backend": "jax", "devices": 2, "lr_scaling": "sqrt"})
    assert (r.train.distribute, r.train.devices, r.train.lr_scaling) == ("data_parallel", 2, "sqrt")
    assert recipe_from_dict(r.to_dict()) == r
    assert recipe().train.distribute == "none" and recipe().train.devices == "all"


@pytest.mark.parametrize("mode", ["mirrored", "data_parallel"])
def test_every_technique_is_verified_or_refused(mode):
    from kerastricks.distribute.config import REFUSED, VERIFIED
    from kerastricks.techniques import TECHNIQUES

    names = {entry.name for entry in TECHNIQUES}
    refused = {t for t, m in REFUSED if m == mode}
    verified = set(VERIFIED[mode])
    assert names <= verified | refused, names - verified - refused
    assert not (verified - {"clip"}) & refused  # clip: Keras modes refused under mirrored, agc verified


@pytest.mark.parametrize("replicas", [1, 2, 3, 8])
def test_lr_scale_factor(replicas):
    assert lr_scale_factor("none", "linear", replicas) == 1.0
    assert lr_scale_factor("mirrored", "none", replicas) == 1.0
    assert lr_scale_factor("mirrored", "linear", replicas) == replicas
    assert lr_scale_factor("data_parallel", "sqrt", replicas) == pytest.approx(math.sqrt(replicas))


def test_process_group_from_env():
    assert ProcessGroup.from_env({}) == ProcessGroup()
    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:2345",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    group = ProcessGroup.from_env(env)
    assert group == ProcessGroup("10.0.0.1:1234", 2, 1) and group.multi
    assert ProcessGroup.from_env(group.env()) == group
    for bad in ({**env, "KERAS_DISTRIBUTION_PROCESS_ID": "2"}, {**env, "KERAS_DISTRIBUTION_NUM_PROCESSES": "x"},
                {**env, "KERAS_DISTRIBUTION_JOB_ADDRESSES": "nohost"}):
        with pytest.raises(ConfigError):
            ProcessGroup.from_env(bad)
