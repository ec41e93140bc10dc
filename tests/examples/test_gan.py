"""The MNIST-1D GAN example: trains a few steps, saves and loads; its score fails a collapsed generator."""

import keras
import numpy as np
import pytest

from kerastricks.examples.gan import GAN, classifier_score, compile_gan, make_discriminator, make_generator, passes


def judge():
    """A 'classifier' that reads the class off the input: logit k = 20 * x[k] (an exact reference)."""
    inputs = keras.Input((40, 1))
    dense = keras.layers.Dense(10, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((40, 10), "float32")
    kernel[np.arange(10), np.arange(10)] = 20.0
    dense.set_weights([kernel])
    return model


def samples_of(labels):
    x = np.zeros((len(labels), 40, 1), "float32")
    x[np.arange(len(labels)), labels, 0] = 1.0
    return x


def np_score(p):
    marginal = p.mean(0)
    return np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1)))


def test_score_against_numpy_and_its_verdicts():
    labels = np.arange(200) % 10
    good = classifier_score(samples_of(labels), judge())
    logits = 20.0 * np.eye(10)[labels]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert good["score"] == pytest.approx(np_score(p), rel=1e-6)
    assert good["score"] > 9.9 and good["class_entropy"] == pytest.approx(1.0, abs=1e-6)
    assert good["classes_seen"] == 10 and passes(good)
    collapsed = classifier_score(samples_of(np.full(200, 3)), judge())  # one class only
    assert collapsed["score"] == pytest.approx(1.0, abs=1e-6) and collapsed["classes_seen"] == 1
    assert collapsed["class_entropy"] < 0.01 and not passes(collapsed)
    noise = classifier_score(np.zeros((200, 40, 1), "float32"), judge())  # no class recognized
    assert noise["mean_confidence"] == pytest.approx(0.1) and noise["score"] == pytest.approx(1.0)
    assert not passes(noise)
    # half the classes: entropy log 5 / log 10
    half = classifier_score(samples_of(np.arange(200) % 5), judge())
    assert half["class_entropy"] == pytest.approx(np.log(5) / np.log(10), abs=1e-6) and not passes(half)


def test_gan_trains_a_few_steps_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 40, 1)).astype("float32")
    gan = GAN(make_generator(8, width=8), make_discriminator(width=8), latent_dim=8, data_scale=2.0)
    compile_gan(gan, total_steps=20)
    before = [w.copy() for w in gan.generator.get_weights()]
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(x, batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, gan.discriminator.get_weights()))
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 4  # one step each per batch
    samples = gan.generate(5, seed=1)
    assert samples.shape == (5, 40, 1) and np.abs(samples).max() <= 2.0  # tanh output times data_scale
    config = gan.get_config()
    assert GAN.from_config(config).get_config() == config
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert isinstance(loaded, GAN) and loaded.data_scale == 2.0
    np.testing.assert_allclose(loaded.generate(5, seed=1), samples, atol=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        GAN(label_smoothing=0.5)
