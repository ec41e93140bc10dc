"""The MNIST-1D GAN example: its losses against numpy, trains a few steps, saves and loads; its score fails a
collapsed generator. The other backends run the same step in tests/backends (conformance.py's example/gan)."""

import keras
import numpy as np
import pytest

from kerastricks.examples.gan import (
    GAN,
    GANOptimizer,
    classifier_score,
    compile_gan,
    discriminator_loss,
    generator_loss,
    make_discriminator,
    make_generator,
    nearest_neighbour_distance,
    passes,
)


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


def test_nearest_neighbour_distance_against_numpy():
    x = np.random.default_rng(0).normal(size=(30, 40, 1))
    d = np.linalg.norm(x.reshape(30, 1, 40) - x.reshape(1, 30, 40), axis=-1)
    np.fill_diagonal(d, np.inf)
    assert nearest_neighbour_distance(x, batch_size=7) == pytest.approx(d.min(axis=1).mean(), rel=1e-9)
    assert nearest_neighbour_distance(np.concatenate([x, x])) == pytest.approx(0.0, abs=1e-6)  # each has a copy


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
    # against a reference: at least half of the real data's score and nearest-neighbour distance
    assert good["nn_distance"] == pytest.approx(0.0, abs=1e-6)  # every one-hot sample has 19 copies
    assert passes(good, reference={"score": 2 * good["score"] - 1e-9, "nn_distance": 0.0})
    assert not passes(good, reference={"score": 2 * good["score"] + 1e-6, "nn_distance": 0.0})
    assert not passes(good, reference={"score": 1.0, "nn_distance": 0.1})  # copies: fails the distance
    labelled = classifier_score(samples_of(labels), judge(), labels=(labels + (labels == 0)) % 10)
    assert labelled["label_accuracy"] == pytest.approx(0.9)  # the 20 samples of class 0 labelled 1


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_losses_against_numpy(smoothing):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(16, 1)).astype("float32") * 2, rng.normal(size=(16, 1)).astype("float32") * 2
    # hinge (Lim & Ye 2017): E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; generator: -E[D(G(z))]
    want = np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))
    np.testing.assert_allclose(float(discriminator_loss(real, fake, "hinge")), want, rtol=1e-6)
    np.testing.assert_allclose(float(generator_loss(fake, "hinge")), -fake.mean(), rtol=1e-6)
    # cross-entropy with one-sided smoothing t (Goodfellow et al. 2014; Salimans et al. 2016), sigmoid s
    s = lambda v: 1 / (1 + np.exp(-v.astype(np.float64)))  # noqa: E731
    t = 1 - smoothing
    want = np.mean(-t * np.log(s(real)) - (1 - t) * np.log(1 - s(real))) + np.mean(-np.log(1 - s(fake)))
    np.testing.assert_allclose(float(discriminator_loss(real, fake, "nonsaturating", smoothing)), want, rtol=1e-5)
    np.testing.assert_allclose(float(generator_loss(fake, "nonsaturating")), np.mean(-np.log(s(fake))), rtol=1e-5)
    # at a discriminator that cannot tell (D = 0 everywhere) the hinge loss is 2 and the cross-entropy 2 log 2
    zero = np.zeros((4, 1), "float32")
    assert float(discriminator_loss(zero, zero, "hinge")) == pytest.approx(2.0)
    assert float(discriminator_loss(zero, zero, "nonsaturating")) == pytest.approx(2 * np.log(2), rel=1e-6)


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
    assert loaded.d_optimizer is not None and int(loaded.d_optimizer.iterations) == 4  # compiled again, with state
    for a, b in zip(loaded.optimizer.variables, gan.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match="label_smoothing"):
        GAN(label_smoothing=0.5)
    with pytest.raises(ValueError, match="loss"):
        GAN(loss="wasserstein")


def test_auxiliary_classifier_gan_trains_on_labels():
    """AC-GAN: the discriminator's class head sees real labels; the generator draws the labels it is given."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 40, 1)).astype("float32")
    y = np.arange(32, dtype="int32") % 3
    disc = make_discriminator(width=4, num_classes=3, conditioning="auxiliary")
    assert len(disc.outputs) == 2 and disc.outputs[1].shape[-1] == 3
    gan = GAN(make_generator(4, width=4, num_classes=3), disc, latent_dim=4, num_classes=3, aux_weight=0.5)
    compile_gan(gan, total_steps=20)
    history = gan.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and int(gan.g_optimizer.iterations) == 2
    assert gan.labels_for(7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert gan.generate(7, seed=2).shape == (7, 40, 1)
    with pytest.raises(ValueError, match=r"fit\(x, y\)"):
        gan.fit(x, batch_size=16, epochs=1, verbose=0)


def test_gan_optimizer_config_round_trip():
    opt = GANOptimizer(keras.optimizers.Adam(4e-4, beta_1=0.0), keras.optimizers.Adam(1e-4, beta_1=0.0))
    config = opt.get_config()
    again = GANOptimizer.from_config(config)
    assert again.get_config() == config
    assert float(again.generator_optimizer.learning_rate) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="GAN.compile"):
        again.build([])
