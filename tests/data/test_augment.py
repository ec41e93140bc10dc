"""On-the-fly augmentation: the MNIST-1D transforms against numpy, image layers, recipe specs."""

import numpy as np
import pytest
import tensorflow as tf

from kerastricks.data import build_augmentation, make_tf_dataset
from kerastricks.data.augment import augmentation_spec, rotate_zoom
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


def bilinear(image, x, y):
    """Numpy reference: bilinear sample of ``image[row, column, channel]`` at column ``x``, row ``y``."""
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, image.shape[1] - 1), min(y0 + 1, image.shape[0] - 1)
    wx, wy = x - x0, y - y0
    top = image[y0, x0] * (1 - wx) + image[y0, x1] * wx
    bottom = image[y1, x0] * (1 - wx) + image[y1, x1] * wx
    return top * (1 - wy) + bottom * wy


def test_rotate_zoom_is_bilinear_sampling_of_the_rotated_scaled_grid():
    rng = np.random.default_rng(1)
    image = rng.random((9, 11, 2)).astype("float32")
    np.testing.assert_array_equal(rotate_zoom(image, 0.0, 1.0).numpy(), image)  # identity
    square = image[:9, :9]
    # a quarter turn lands on the grid: output (column x, row y) reads input (column 9-1-y, row x)
    np.testing.assert_allclose(rotate_zoom(square, np.pi / 2, 1.0).numpy(), np.rot90(square, 1), atol=1e-5)
    angle, scale = 0.4, 0.8
    out = rotate_zoom(image, angle, scale).numpy()
    cx, cy = (11 - 1) / 2, (9 - 1) / 2
    inside = 0
    for row in range(9):
        for col in range(11):
            x = cx + scale * (np.cos(angle) * (col - cx) - np.sin(angle) * (row - cy))
            y = cy + scale * (np.sin(angle) * (col - cx) + np.cos(angle) * (row - cy))
            if 0 <= x <= 10 and 0 <= y <= 8:  # inside: no reflection involved
                inside += 1
                np.testing.assert_allclose(out[row, col], bilinear(image, x, y), atol=1e-5)
    assert inside > 60  # most of the 99 pixels were compared
