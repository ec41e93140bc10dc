"""On-the-fly augmentation: a per-example map inside the ``tf.data`` training pipeline.

An augmentation is a function ``fn(x, seed) -> x`` on ONE example (no batch
axis) and a ``[2]`` int64 seed; it must use stateless random ops seeded from
``seed`` so runs repeat exactly (:func:`~kerastricks.data.make_tf_dataset`
draws one seed per example from ``tf.data.Dataset.random``).

Recipes select one by name, with options as a table::

    [data]
    augment = "mnist1d"                             # defaults
    augment = { name = "mnist1d", shift = 4, noise = 0.1 }
    augment = { name = "images", rotation = 0.05 }

Registered: ``mnist1d`` (tf-ops versions of the ``mnist1d`` package's
transforms) and ``images`` (flip, rotation, zoom and contrast, as Keras's
preprocessing layers do them, but stateless).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerastricks._lazy import LazyModule
from kerastricks.errors import ConfigError
from kerastricks.registry import Registry
from kerastricks.validation import NonNegativeFloat, NonNegativeInt, validate_options

tf = LazyModule("tensorflow")

Augment = Callable[..., Any]  # (x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor

AUGMENTATIONS: Registry[Callable[..., Augment]] = Registry("augmentation")
"""Augmentation factories by name: ``factory(**options) -> fn(x, seed)``."""


def mnist1d(
    *,
    shift: NonNegativeInt = 3,
    scale: NonNegativeFloat = 0.2,
    dilate: NonNegativeFloat = 0.1,
    shear: NonNegativeFloat = 0.5,
    noise: NonNegativeFloat = 0.05,
) -> Augment:
    """Random shift, amplitude scale, time dilation, shear and noise of a 1-D signal.

    tf-ops versions of the transforms the ``mnist1d`` package uses to make its
    examples (``mnist1d/transform.py``), applied to finished, normalized
    examples of shape ``(length,)`` or ``(length, channels)``, in this order:

    - dilate: resample at ``c + (t - c) / a``, ``a ~ U[1 - dilate, 1 + dilate]``,
      ``c`` the centre, linear interpolation, edges clamped;
    - scale: multiply by ``1 + scale * (u - 0.5)``, ``u ~ U[0, 1]``;
    - shift: circular roll by ``k ~ U{-shift, ..., shift}`` steps;
    - shear: subtract ``shear * (u - 0.5) * linspace(-0.5, 0.5, length)``;
    - noise: add ``noise * N(0, 1)`` per value.

    Args:
        shift: Largest shift in steps, >= 0. Default 3.
        scale: Amplitude scale strength, >= 0. Default 0.2.
        dilate: Time dilation strength, in [0, 1). Default 0.1.
        shear: Shear strength, >= 0. Default 0.5.
        noise: Standard deviation of the added Gaussian noise. Default 0.05.

    Returns:
        ``fn(x, seed) -> x``.
    """
    if dilate >= 1:
        raise ConfigError(key="data.augment.dilate", expected="a value in [0, 1)", received=dilate)

    def fn(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        one_d = x.shape.rank == 1
        if one_d:
            x = x[:, None]
        length = tf.shape(x)[0]
        s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 6)
        t = tf.cast(tf.range(length), tf.float32)
        centre = (tf.cast(length, tf.float32) - 1.0) / 2.0
        if dilate > 0:
            a = tf.random.stateless_uniform([], s[0], 1.0 - dilate, 1.0 + dilate)
            pos = tf.clip_by_value(centre + (t - centre) / a, 0.0, tf.cast(length - 1, tf.float32))
            lo = tf.cast(tf.floor(pos), tf.int32)
            hi = tf.minimum(lo + 1, length - 1)
            w = (pos - tf.floor(pos))[:, None]
            x = tf.gather(x, lo) * (1.0 - w) + tf.gather(x, hi) * w
        if scale > 0:
            x = x * (1.0 + scale * (tf.random.stateless_uniform([], s[1]) - 0.5))
        if shift > 0:
            k = tf.random.stateless_uniform([], s[2], -shift, shift + 1, dtype=tf.int32)
            x = tf.roll(x, k, axis=0)
        if shear > 0:
            coeff = shear * (tf.random.stateless_uniform([], s[3]) - 0.5)
            ramp = tf.linspace(-0.5, 0.5, length)
            x = x - coeff * tf.cast(ramp, x.dtype)[:, None]
        if noise > 0:
            x = x + noise * tf.random.stateless_normal(tf.shape(x), s[4], dtype=x.dtype)
        return x[:, 0] if one_d else x

    return fn


def images(
    *,
    flip: bool = True,
    rotation: NonNegativeFloat = 0.05,
    zoom: NonNegativeFloat = 0.1,
    contrast: NonNegativeFloat = 0.1,
) -> Augment:
    """Random flip, rotation, zoom and contrast of one image ``(height, width, channels)``.

    What Keras's ``RandomFlip("horizontal")``, ``RandomRotation(rotation)``,
    ``RandomZoom(zoom)`` and ``RandomContrast(contrast)`` layers do, drawn with
    stateless ops from the per-example seed: Keras's layers draw from a
    ``SeedGenerator`` of their own, whose state lives inside the ``tf.data``
    pipeline, where no checkpoint reaches it, and which parallel ``map`` calls
    advance in no fixed order; so a resumed run would augment differently.

    - flip: left-right with probability 1/2 (``tf.image.stateless_random_flip_left_right``);
    - rotation and zoom: one affine resampling about the centre
      (:func:`rotate_zoom`, bilinear, edges reflected) by an
      angle ``2*pi*U[-rotation, rotation]`` and a scale ``U[1 - zoom, 1 + zoom]``
      of the sampled area (> 1 zooms out);
    - contrast: ``(x - mean) * U[1 - contrast, 1 + contrast] + mean`` per channel
      (``tf.image.stateless_random_contrast``).

    Each is left out when off (``False`` / 0). Only TensorFlow ops, so the map
    runs inside ``tf.data`` whichever Keras backend trains the model.

    Args:
        flip: Random horizontal flips. Default True.
        rotation: Largest rotation as a fraction of 2*pi. Default 0.05 (18 degrees).
        zoom: Largest zoom in or out, as a fraction of the size. Default 0.1.
        contrast: Contrast factor range ``[1 - c, 1 + c]``. Default 0.1.

    Returns:
        ``fn(x, seed) -> x``.
    """
    import math

    def fn(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        squeeze = x.shape.rank == 2
        y = x[..., None] if squeeze else x
        flip_seed, angle_seed, zoom_seed, contrast_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
        if flip:
            y = tf.image.stateless_random_flip_left_right(y, flip_seed)
        if rotation > 0 or zoom > 0:
            angle = 2 * math.pi * tf.random.stateless_uniform([], angle_seed, -rotation, rotation)
            scale = tf.random.stateless_uniform([], zoom_seed, 1 - zoom, 1 + zoom)
            y = rotate_zoom(y, angle, scale)
        if contrast > 0:
            y = tf.image.stateless_random_contrast(y, 1 - contrast, 1 + contrast, contrast_seed)
        return y[..., 0] if squeeze else y

    return fn


def rotate_zoom(image: tf.Tensor, angle: Any, scale: Any) -> tf.Tensor:
    """Resample one image ``(height, width, channels)`` rotated by ``angle`` and scaled by ``scale`` about its centre.

    Output pixel ``p = (column, row)`` takes the bilinear sample of the input at
    ``c + scale * R(angle) (p - c)``, ``c`` the centre ``((width - 1) / 2, (height - 1) / 2)``; points outside
    the image are reflected back in. TensorFlow's ``ImageProjectiveTransformV3`` op does the resampling (the op
    Keras's ``ops.image.affine_transform`` calls on its TensorFlow backend), so it works inside ``tf.data`` on
    every Keras backend: Keras's op would hand a graph tensor to JAX or PyTorch.
    """
    image = tf.convert_to_tensor(image)
    angle = tf.cast(angle, tf.float32)
    scale = tf.cast(scale, tf.float32)
    height, width = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a0, a1 = scale * tf.cos(angle), -scale * tf.sin(angle)
    b0, b1 = scale * tf.sin(angle), scale * tf.cos(angle)
    transform = tf.stack([a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy, 0.0, 0.0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        fill_value=tf.constant(0.0, tf.float32), interpolation="BILINEAR", fill_mode="REFLECT")
    return tf.ensure_shape(out[0], image.shape)


def _none() -> None:
    """No augmentation."""
    return None


AUGMENTATIONS.register("none", _none, description="no augmentation")
AUGMENTATIONS.register("mnist1d", mnist1d, description="random shift, scale, dilation, shear and noise of 1-D signals")
AUGMENTATIONS.register("images", images, description="random flip, rotation, zoom and contrast of images")


def augmentation_spec(value: Any, *, file: str | None = None) -> dict[str, Any]:
    """Validate ``[data] augment`` (a name or a table with ``name``) into ``{"name": ..., **options}``."""
    if value is None:
        return {"name": "none"}
    if isinstance(value, str):
        table: dict[str, Any] = {"name": value}
    elif isinstance(value, dict):
        table = dict(value)
    else:
        raise ConfigError(file=file, key="data.augment", expected="a name or a table with `name`", received=value)
    name = table.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(file=file, key="data.augment.name", expected="a string", received=name)
    entry = AUGMENTATIONS.get(name, key="data.augment")
    opts = validate_options(entry.obj, table, section="data.augment", file=file, fill_defaults=True)
    return {"name": entry.name, **opts}


def build_augmentation(value: Any, *, file: str | None = None) -> Augment | None:
    """The ``fn(x, seed)`` for ``[data] augment``, or None for no augmentation."""
    spec = augmentation_spec(value, file=file)
    name = spec.pop("name")
    return AUGMENTATIONS.get(name).obj(**spec)


__all__ = ["AUGMENTATIONS", "augmentation_spec", "build_augmentation", "images", "mnist1d", "rotate_zoom"]
