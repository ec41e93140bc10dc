"""On-the-fly augmentation: the MNIST-1D transforms against numpy, image layers, recipe specs."""

import numpy as np
import pytest
import tensorflow as tf

from kerastricks.data import build_augmentation, make_tf_dataset
from kerastricks.data.augment import augmentation_spec
from kerastricks.errors import ConfigError


def augment_one(fn, x, seed=(1, 2)):
    return fn(tf.constant(x), tf.constant(seed, dtype=tf.int64)).numpy()


def only(**strength):
    base = {"shift": 0, "scale": 0.0, "dilate": 0.0, "shear": 0.0, "noise": 0.0}
    return build_augmentation({"name": "mnist1d", **{**base, **strength}})


SIGNAL = np.sin(np.linspace(0, 6, 40)).astype("float32") + np.linspace(0, 1, 40).astype("float32")


def test_each_mnist1d_transform_matches_its_numpy_formula():
    assert np.array_equal(augment_one(only(), SIGNAL), SIGNAL)  # all off: identity
    rolled = augment_one(only(shift=3), SIGNAL)
    assert any(np.array_equal(rolled, np.roll(SIGNAL, k)) for k in range(-3, 4))
    scaled = augment_one(only(scale=0.4), SIGNAL)
    c = scaled[5] / SIGNAL[5]
    assert 0.8 <= c <= 1.2
    np.testing.assert_allclose(scaled, c * SIGNAL, rtol=1e-5)
    sheared = augment_one(only(shear=0.8), SIGNAL)
    # x - coeff * linspace(-0.5, 0.5, L): the difference is a line through 0 at the centre
    ramp = np.linspace(-0.5, 0.5, 40)
    coeff = np.polyfit(ramp, SIGNAL - sheared, 1)
    assert abs(coeff[0]) <= 0.4 + 1e-5 and abs(coeff[1]) < 1e-5
    np.testing.assert_allclose(sheared, SIGNAL - coeff[0] * ramp, atol=1e-5)
    noisy = augment_one(only(noise=0.1), np.zeros(4000, "float32"))
    assert abs(noisy.std() - 0.1) < 0.01  # 4000 draws: sd of the sd estimate ~0.0011


def test_dilation_is_linear_interpolation_about_the_centre():
    dilated = augment_one(only(dilate=0.3), SIGNAL)
    t = np.arange(40.0)
    centre = 19.5
    # recover the factor from a point, then the whole signal must be np.interp at c + (t - c) / a
    errors = []
    for a in np.linspace(0.7, 1.3, 6001):
        pos = np.clip(centre + (t - centre) / a, 0, 39)
        errors.append(np.abs(np.interp(pos, t, SIGNAL) - dilated).max())
    assert min(errors) < 1e-3


def test_pipeline_augments_each_example_freshly_each_epoch_and_repeatably():
    x = np.tile(SIGNAL[None, :, None], (8, 1, 1))
    y = np.arange(8)

    def epochs(seed):
        ds = make_tf_dataset(x, y, batch_size=8, shuffle=False, seed=seed, augment=build_augmentation("mnist1d"))
        return [next(iter(ds))[0].numpy() for _ in range(2)]

    a1, a2 = epochs(0)
    assert not np.allclose(a1[0], a1[1])  # examples differ from one another
    assert not np.allclose(a1, a2)  # and from one epoch to the next
    b1, b2 = epochs(0)
    np.testing.assert_array_equal(a1, b1)  # same seed: same augmentations
    np.testing.assert_array_equal(a2, b2)


def test_image_augmentation_keeps_shapes_and_changes_pixels():
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1)).astype("float32")
    ds = make_tf_dataset(x, np.arange(4), batch_size=4, shuffle=False, seed=0,
                         augment=build_augmentation({"name": "images", "flip": False, "zoom": 0.0}))
    out = next(iter(ds))[0].numpy()
    assert out.shape == x.shape and not np.allclose(out, x)


def test_augmentation_spec_validates_names_and_options():
    assert augmentation_spec("mnist1d")["shift"] == 3
    assert augmentation_spec(None) == {"name": "none"}
    with pytest.raises(ConfigError, match="data.augment"):
        augmentation_spec({"name": "mnist1d", "shfit": 2})
    with pytest.raises(ConfigError, match="data.augment"):
        augmentation_spec("mixup")


def test_image_augmentation_is_a_function_of_the_seed_alone():
    rng = np.random.default_rng(0)
    x = rng.random((9, 9, 2)).astype("float32")
    fn = build_augmentation("images")
    a, b = augment_one(fn, x, (4, 5)), augment_one(fn, x, (4, 5))
    np.testing.assert_array_equal(a, b)  # no hidden generator state: a resumed run augments the same
    assert not np.allclose(a, augment_one(fn, x, (6, 7)))
    flips = {augment_one(build_augmentation({"name": "images", "rotation": 0.0, "zoom": 0.0, "contrast": 0.0}),
                         x, (s, 1)).tobytes() for s in range(16)}
    assert flips == {x.tobytes(), x[:, ::-1].tobytes()}
    turned = augment_one(build_augmentation({"name": "images", "flip": False, "contrast": 0.0, "rotation": 0.2}),
                         x, (3, 1))
    np.testing.assert_allclose(turned[4, 4], x[4, 4], atol=1e-6)  # rotation and zoom are about the centre
    assert not np.allclose(turned, x)
    contrasted = augment_one(build_augmentation({"name": "images", "flip": False, "rotation": 0.0, "zoom": 0.0,
                                                 "contrast": 0.5}), x, (3, 1))
    np.testing.assert_allclose(contrasted.mean(axis=(0, 1)), x.mean(axis=(0, 1)), atol=1e-6)  # per-channel mean kept
    ratio = (contrasted - x.mean(axis=(0, 1))) / (x - x.mean(axis=(0, 1)))
    assert np.allclose(ratio, ratio.flat[0], atol=1e-4) and 0.5 <= ratio.flat[0] <= 1.5
