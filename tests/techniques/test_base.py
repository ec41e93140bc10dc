"""The Technique base class and registry."""

import pytest

from kerastricks.errors import ConfigError
from kerastricks.techniques import PHASES, TECHNIQUES, Technique, TrainContext, build_technique, register_technique


def test_builtin_techniques_registered_with_descriptions():
    names = TECHNIQUES.names()
    for name in ("early_stopping", "ema", "gradient_accumulation", "label_smoothing", "l2"):
        assert name in names
    for entry in TECHNIQUES:
        assert entry.description and "\n" not in entry.description
        assert issubclass(entry.obj, Technique)
        assert entry.obj.name == entry.name


def test_default_hooks_pass_through():
    technique = Technique()
    ctx = TrainContext()
    marker = object()
    assert technique.apply_to_data(marker, ctx) is marker
    assert technique.apply_to_pipeline(marker, ctx) is marker
    assert technique.apply_to_model(marker, ctx) is marker
    assert technique.apply_to_optimizer(marker, ctx) is marker
    assert technique.apply_to_loss(marker, ctx) is marker
    assert technique.model_options({"a": 1}, ctx) == {"a": 1}
    assert technique.optimizer_options({"a": 1}, ctx) == {"a": 1}
    assert technique.callbacks(ctx) == []
    assert technique.after_fit(marker, ctx) is None
    assert PHASES[0] == "check" and PHASES[-1] == "after_fit"


@pytest.mark.parametrize("entry", list(TECHNIQUES), ids=lambda e: e.name)
def test_every_technique_config_round_trip(entry):
    technique = build_technique(entry.name, {})
    config = technique.get_config()
    assert config == entry.defaults
    clone = type(technique).from_config(config)
    assert clone.get_config() == config


def test_build_technique_validates_options():
    with pytest.raises(ConfigError) as err:
        build_technique("ema", {"momentun": 0.9})
    assert "techniques.ema.momentun" in str(err.value) and "momentum" in str(err.value)
    with pytest.raises(ConfigError) as err:
        build_technique("ema", {"momentum": 1.5})
    assert "techniques.ema.momentum" in str(err.value)
    with pytest.raises(ConfigError) as err:
        build_technique("early_stoping")
    assert "early_stopping" in str(err.value)


def test_register_technique_rejects_non_techniques_and_duplicates():
    with pytest.raises(TypeError):
        register_technique("not_a_technique", description="x")(object)
    with pytest.raises(ValueError):
        register_technique("ema", description="again")(type("Again", (Technique,), {}))
