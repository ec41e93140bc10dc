"""Backend conformance: run every kerastricks component a few steps on the backend in ``KERAS_BACKEND``.

Run as a script (one process per backend, Keras picks its backend once per
process); prints one JSON object: ``{"backend": ..., "results": {name: {...}}}``
where each entry holds the numbers to compare with the TensorFlow run
(``values``, flat floats), the ``.keras`` round-trip difference (``roundtrip``),
properties checked on this backend (``checks``), or ``error`` if it raised.
``tests/backends/test_backends.py`` runs it for each backend and compares.

Everything starts from NumPy: weights are set from a NumPy generator (the
backends' own initializers draw different numbers), data is NumPy, and fit
does not shuffle, so the three backends compute the same thing.

Usage: ``KERAS_BACKEND=jax python tests/backends/conformance.py [--only NAME,...]``
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

import kerastricks  # noqa: F401

BACKEND = keras.backend.backend()
JIT = BACKEND == "jax"  # JAX is only usable jitted; TensorFlow runs a tf.function graph, torch eagerly


# ---- helpers ----------------------------------------------------------------------------------------
def flat(arrays) -> list[float]:
    return [float(v) for a in arrays for v in np.asarray(keras.ops.convert_to_numpy(a), dtype="float64").ravel()]


def set_weights(model: keras.Model, seed: int = 0, scale: float = 0.3) -> None:
    """Trainable weights from NumPy (same numbers on every backend); non-trainable ones keep their constants."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        v.assign(rng.normal(scale=scale, size=tuple(v.shape)).astype("float32"))


def data(n=48, features=8, classes=3, seed=0, counts=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    if counts is None:
        y = rng.integers(0, classes, size=(n,)).astype("int32")
    else:
        y = np.concatenate([np.full(c, i) for i, c in enumerate(counts)]).astype("int32")
        rng.shuffle(y)
        x += 0.8 * np.eye(classes, features, dtype="float32")[y]  # learnable
    return x, y


def mlp(features=8, width=16, classes=3, seed=0) -> keras.Model:
    x = keras.Input((features,))
    h = keras.layers.Dense(width, activation="relu", name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(classes, name="logits")(h))
    set_weights(model, seed)
    return model


def sce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def fit(model, optimizer, loss=None, epochs=1, batch_size=16, n=48, callbacks=(), counts=None, **compile_kw):
    model.compile(optimizer=optimizer, loss=loss or sce(), jit_compile=JIT, **compile_kw)
    x, y = data(n=n, counts=counts, features=model.input_shape[-1])
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0,
                        callbacks=list(callbacks))
    return history.history


def roundtrip(model: keras.Model, x) -> float:
    """Largest output difference after a ``.keras`` save and load."""
    with tempfile.TemporaryDirectory(prefix=f"kt-conformance-{BACKEND}-") as tmp:
        path = os.path.join(tmp, f"{model.name}.keras")
        model.save(path)
        loaded = keras.models.load_model(path, compile=False)
    a = keras.ops.convert_to_numpy(model(x, training=False))
    b = keras.ops.convert_to_numpy(loaded(x, training=False))
    return float(np.max(np.abs(a - b)))


# ---- optimizers -------------------------------------------------------------------------------------
def _optimizers():
    from kerastricks.optimizers import AGC, SM3, Adafactor, Lookahead

    return {
        "adafactor": lambda: Adafactor(learning_rate=0.05, min_dim_size_to_factor=8),
        "sm3": lambda: SM3(learning_rate=0.1, momentum=0.5),
        "agc_adam_exclude": lambda: AGC(keras.optimizers.Adam(0.05), clipping=0.01, exclude=["^logits/"]),
        "agc_adam": lambda: AGC(keras.optimizers.Adam(0.05), clipping=0.01),
        "lookahead_adamw": lambda: Lookahead(keras.optimizers.AdamW(0.05), sync_period=2, slow_step_size=0.5),
    }


def check_optimizer(name):
    model = mlp()
    optimizer = _optimizers()[name]()
    epochs = 2 if name.startswith("lookahead") else 1  # Lookahead: 6 steps, 3 synchronizations
    fit(model, optimizer, epochs=epochs)  # 3 steps per epoch
    x, _ = data(n=4)
    out = {"values": flat(model.trainable_variables), "roundtrip": roundtrip(model, x)}
    if name.startswith("lookahead"):
        # the slow weights ride along in the state; after a synchronization step the fast weights equal them
        fast, slow = flat(model.trainable_variables), flat(optimizer.slow_weights)
        plain = mlp()
        fit(plain, keras.optimizers.AdamW(0.05), epochs=epochs)
        out["values"] += slow
        out["checks"] = {"iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
                         "fast_vs_slow_max_diff": float(np.max(np.abs(np.array(fast) - np.array(slow)))),
                         "vs_inner_alone_max_diff": float(np.max(np.abs(np.array(fast)
                                                                        - np.array(flat(plain.trainable_variables)))))}
    return out


# ---- schedules --------------------------------------------------------------------------------------
SCHEDULE_OPTIONS = {
    "piecewise": {"boundaries": [1.0, 2.0], "factors": [0.5, 0.1]},
}


def check_schedule(name):
    from kerastricks.schedules import build_schedule

    schedule, callbacks = build_schedule(name, SCHEDULE_OPTIONS.get(name, {}), learning_rate=0.1,
                                         steps_per_epoch=3, epochs=3, with_callbacks=True)
    model = mlp()
    history = fit(model, keras.optimizers.SGD(schedule, momentum=0.9), epochs=3, callbacks=callbacks)
    rates = []
    if callable(schedule):
        rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(10)]
        config = keras.optimizers.schedules.serialize(schedule)
        again = keras.optimizers.schedules.deserialize(config)
        assert [float(keras.ops.convert_to_numpy(again(s))) for s in range(10)] == rates
    x, _ = data(n=4)
    return {"values": flat(model.trainable_variables) + rates + history["loss"], "roundtrip": roundtrip(model, x)}


# ---- layers -----------------------------------------------------------------------------------------
def _layer_models():
    from kerastricks.layers import ACBlock, ExtendedBatchNormalization, RepVGGBlock, WSConv1D, WSConv2D
    from kerastricks.losses import LogitAdjustment
    from kerastricks.models.recompute import Recompute

    def conv1d(layer):
        x = keras.Input((12, 3))
        h = keras.layers.GlobalAveragePooling1D()(layer(x))
        return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name=f"m_{layer.name}")

    def conv2d(layer):
        x = keras.Input((6, 6, 3))
        h = keras.layers.GlobalAveragePooling2D()(layer(x))
        return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name=f"m_{layer.name}")

    def dense(layer):
        x = keras.Input((8,))
        h = layer(keras.layers.Dense(6, name="hidden")(x))
        return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name=f"m_{layer.name}")

    def recompute():
        inner_in = keras.Input((6,))
        y = keras.layers.Dense(6)(inner_in)
        y = keras.layers.BatchNormalization(momentum=0.5)(y)
        y = keras.layers.Dense(6, activation="relu")(keras.layers.ReLU()(y))
        x = keras.Input((8,))
        h = Recompute(keras.Model(inner_in, y, name="segment"), name="recompute")(keras.layers.Dense(6)(x))
        return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name="m_recompute")

    def logit_adjusted():
        x = keras.Input((8,))
        h = keras.layers.Dense(3, name="logits")(keras.layers.Dense(6, name="hidden")(x))
        return keras.Model(x, LogitAdjustment([30, 10, 8], tau=1.0, name="adjust")(h), name="m_logit_adjustment")

    return {
        "ws_conv1d": lambda: conv1d(WSConv1D(4, 3, padding="same", name="ws1")),
        "ws_conv2d": lambda: conv2d(WSConv2D(4, 3, padding="same", name="ws2")),
        "extended_bn": lambda: dense(ExtendedBatchNormalization(momentum=0.5, name="ebn")),
        "acnet": lambda: conv2d(ACBlock(4, 3, name="acb")),
        "repvgg": lambda: conv2d(RepVGGBlock(4, 3, name="repvgg")),
        "recompute": recompute,
        "logit_adjustment": logit_adjusted,
    }


def check_layer(name):
    model = _layer_models()[name]()
    set_weights(model)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, 3, size=(24,)).astype("int32")
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=sce(), jit_compile=JIT)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    out = {"values": flat(model.variables) + flat([model(x[:4], training=False)]),
           "roundtrip": roundtrip(model, x[:4]), "checks": {}}
    if name in ("acnet", "repvgg"):
        from kerastricks.layers import reparameterize

        fused = reparameterize(model)
        diff = np.abs(keras.ops.convert_to_numpy(fused(x[:4], training=False))
                      - keras.ops.convert_to_numpy(model(x[:4], training=False)))
        out["checks"]["reparameterize_max_diff"] = float(diff.max())
    return out


# ---- losses -----------------------------------------------------------------------------------------
COUNTS = [30, 10, 8]


def _losses():
    from kerastricks import losses as L

    return {
        "sparse_crossentropy": lambda: L.SparseCrossentropy(label_smoothing=0.1),
        "class_balanced": lambda: L.ClassBalancedLoss(COUNTS, beta=0.99),
        "class_balanced_focal": lambda: L.ClassBalancedLoss(COUNTS, beta=0.99, base="focal"),
        "ldam": lambda: L.LDAMLoss(COUNTS, scale=5.0),
        "logit_adjusted": lambda: L.LogitAdjustedLoss(COUNTS),
        "balanced_softmax": lambda: L.BalancedSoftmaxLoss(COUNTS),
        "sparse_focal": lambda: L.SparseCategoricalFocalCrossentropy(),
        "huber": lambda: L.Huber(delta=0.5),
    }


def check_loss(name):
    loss = _losses()[name]()
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2], dtype="int32")
    if name == "huber":
        labels = rng.normal(size=(6, 3)).astype("float32")
    value = float(keras.ops.convert_to_numpy(loss(labels, logits)))
    again = loss.__class__.from_config(loss.get_config())
    assert abs(float(keras.ops.convert_to_numpy(again(labels, logits))) - value) < 1e-6
    model = mlp()
    if name == "huber":
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss, jit_compile=JIT)
        x, _ = data()
        history = model.fit(x, rng.normal(size=(48, 3)).astype("float32"), batch_size=16, shuffle=False, verbose=0)
        history = history.history
    else:
        history = fit(model, keras.optimizers.SGD(0.05), loss=loss, counts=[30, 10, 8])
    return {"values": [value, *history["loss"], *flat(model.trainable_variables)]}


# ---- callbacks and the combined recipe ---------------------------------------------------------------
def check_one_cycle_momentum(_name):
    from kerastricks.schedules import OneCycle, OneCycleMomentum

    steps = 9
    cb = OneCycleMomentum(total_steps=steps, base_momentum=0.5, max_momentum=0.95)
    cycled, constant = mlp(), mlp()
    fit(cycled, keras.optimizers.SGD(OneCycle(0.2, total_steps=steps), momentum=0.95), epochs=3, callbacks=[cb])
    fit(constant, keras.optimizers.SGD(OneCycle(0.2, total_steps=steps), momentum=0.95), epochs=3)
    # The momentum must have moved inside the compiled step: different weights than constant momentum.
    moved = float(np.max(np.abs(np.array(flat(cycled.trainable_variables))
                                - np.array(flat(constant.trainable_variables)))))
    # A later fit without the callback reads the number again (no leftover cycled variable).
    again, fresh = mlp(), mlp()
    opt = keras.optimizers.SGD(0.05, momentum=0.9)
    fit(again, opt, epochs=1, callbacks=[OneCycleMomentum(total_steps=8, pct_start=0.5, base_momentum=0.5,
                                                          max_momentum=0.6)])
    set_weights(again)
    for v in opt.variables[2:]:
        v.assign(np.zeros(v.shape, "float32"))
    x, y = data()
    again.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    fit(fresh, keras.optimizers.SGD(0.05, momentum=0.9), epochs=1)
    leftover = float(np.max(np.abs(np.array(flat(again.trainable_variables))
                                   - np.array(flat(fresh.trainable_variables)))))
    return {"values": flat(cycled.trainable_variables),
            "checks": {"cycled_vs_constant_max_diff": moved, "later_fit_vs_fresh_max_diff": leftover,
                       "momentum_restored": float(opt.momentum)}}


def check_deferred_reweighting(_name):
    from kerastricks.callbacks import DeferredReweighting
    from kerastricks.losses import LDAMLoss

    counts = [30, 10, 8]
    loss = LDAMLoss(counts, scale=5.0)
    model = mlp()
    history = fit(model, keras.optimizers.SGD(0.05), loss=loss, epochs=3, counts=counts,
                  callbacks=[DeferredReweighting(start_epoch=1, beta=0.99)])
    plain = mlp()
    base = fit(plain, keras.optimizers.SGD(0.05), loss=LDAMLoss(counts, scale=5.0), epochs=3, counts=counts)
    # Epoch 0 is unweighted in both runs; from epoch 1 the re-weighted loss must differ.
    return {"values": history["loss"] + flat(model.trainable_variables),
            "checks": {"epoch0_diff": abs(history["loss"][0] - base["loss"][0]),
                       "epoch2_diff": abs(history["loss"][2] - base["loss"][2]),
                       "class_weights": flat([loss.class_weights])}}


def check_time_to_target(_name):
    from kerastricks.callbacks import TimeToTarget

    cb = TimeToTarget("accuracy", 0.2)
    model = mlp()
    fit(model, keras.optimizers.SGD(0.05), epochs=2, callbacks=[cb], metrics=["accuracy"])
    state = json.loads(json.dumps(cb.state_dict()))  # JSON with this backend's numbers
    return {"values": [float(cb.epoch_reached)], "checks": {"state_keys": sorted(state)}}


def check_resumable_state(_name):
    from kerastricks.callbacks.resumable import ResumableMixin

    class Holder(ResumableMixin, keras.callbacks.Callback):
        state_attributes = ("best", "wait", "flag")

    holder = Holder()
    holder.best = keras.ops.convert_to_tensor(np.float32(0.25))  # a backend scalar (JAX array, torch tensor...)
    holder.wait = keras.ops.convert_to_tensor(np.int32(3))
    holder.flag = True
    state = json.loads(json.dumps(holder.state_dict()))
    return {"values": [state["best"], state["wait"]], "checks": {"flag": state["flag"]}}


def check_lr_find(_name):
    from kerastricks import lr_find

    model = mlp()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=sce())
    before = flat(model.variables)
    x, y = data(n=64)
    result = lr_find(model, x, y, batch_size=64, start_lr=1e-4, end_lr=1.0, num_steps=6, stop_factor=1e6)
    after = flat(model.variables)
    return {"values": [float(v) for v in result.losses] + [float(v) for v in result.lrs],
            "checks": {"restored_max_diff": float(np.max(np.abs(np.array(before) - np.array(after))))}}


def check_swa(_name):
    """SWA: the average of the epoch-end weights from epoch 2 of 3 (constant SWA rate from step 3 on), put into
    a model with BatchNorm, whose statistics update_bn recomputes; nothing else in the model changes."""
    from kerastricks.swa import SWA, SWALearningRate, update_bn

    x_in = keras.Input((8,))
    h = keras.layers.BatchNormalization(momentum=0.5, name="bn")(keras.layers.Dense(6, name="hidden")(x_in))
    model = keras.Model(x_in, keras.layers.Dense(3, name="logits")(keras.layers.ReLU()(h)), name="m_swa")
    set_weights(model)
    schedule = SWALearningRate(0.1, start_step=3, swa_lr=0.02)
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(6)]
    epoch_ends = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epoch_ends.append(flat(self.model.trainable_variables))

    swa = SWA(start_epoch=2)
    fit(model, keras.optimizers.SGD(schedule, momentum=0.9), epochs=3, callbacks=[Record(), swa])
    swa.assign_average(model)
    others = [v for v in model.variables if "moving" not in v.path]
    before = flat(others)
    stats_before = flat([v for v in model.variables if "moving" in v.path])
    x, _ = data()
    update_bn(model, x, batch_size=16)
    stats = flat([v for v in model.variables if "moving" in v.path])
    average = flat(model.trainable_variables)
    want = np.mean([epoch_ends[1], epoch_ends[2]], axis=0)  # epochs 2 and 3 (1-based)
    return {"values": average + stats + rates, "roundtrip": roundtrip(model, x[:4]),
            "checks": {"n_averaged": swa.n_averaged,
                       "average_vs_mean_of_epoch_ends": float(np.max(np.abs(np.array(average) - want))),
                       "update_bn_others_max_diff": float(np.max(np.abs(np.array(flat(others)) - np.array(before)))),
                       "update_bn_stats_changed": float(np.max(np.abs(np.array(stats) - np.array(stats_before))))}}


def check_gan(_name):
    """The GAN example's custom train_step (its own step per backend): trains; saves and loads, both
    optimizers' state included.

    Its numbers are not compared across backends (the latent draws come from each backend's generator):
    only the properties, in ``checks``."""
    from kerastricks.examples.gan import GAN, compile_gan, make_discriminator, make_generator

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 40, 1)).astype("float32"), np.arange(32, dtype="int32") % 3
    # spectral normalization on: its kernel assignment inside the forward pass is the backend-sensitive part
    gan = GAN(make_generator(4, width=4, num_classes=3), make_discriminator(width=4, num_classes=3, spectral_norm=True),
              latent_dim=4, data_scale=2.0, num_classes=3)
    compile_gan(gan, total_steps=20)
    g0, d0 = flat(gan.generator.trainable_variables), flat(gan.discriminator.trainable_variables)
    history = gan.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    moved_g = float(np.max(np.abs(np.array(flat(gan.generator.trainable_variables)) - np.array(g0))))
    moved_d = float(np.max(np.abs(np.array(flat(gan.discriminator.trainable_variables)) - np.array(d0))))
    samples = gan.generate(6, seed=1)
    with tempfile.TemporaryDirectory(prefix=f"kt-conformance-{BACKEND}-") as tmp:
        path = os.path.join(tmp, "gan.keras")
        gan.save(path)
        loaded = keras.models.load_model(path)
    state = float(np.max(np.abs(np.array(flat(loaded.optimizer.variables)) - np.array(flat(gan.optimizer.variables)))))
    same = float(np.max(np.abs(loaded.generate(6, seed=1) - samples)))
    losses = history["d_loss"] + history["g_loss"]
    return {"values": [], "roundtrip": same,
            "checks": {"finite": bool(np.all(np.isfinite(losses))), "generator_moved": moved_g,
                       "discriminator_moved": moved_d, "optimizer_state_roundtrip": state,
                       "iterations": [int(keras.ops.convert_to_numpy(o.iterations))
                                      for o in (gan.d_optimizer, gan.g_optimizer, loaded.g_optimizer)],
                       "max_abs_sample": float(np.max(np.abs(samples)))}}


def combined_recipe(epochs=4):
    """AGC with the classifier excluded + one-cycle rate and momentum + LDAM with DRW: the learning curves."""
    from kerastricks.callbacks import DeferredReweighting
    from kerastricks.losses import LDAMLoss
    from kerastricks.optimizers import AGC
    from kerastricks.schedules import OneCycle, OneCycleMomentum

    counts = [40, 12, 8]
    steps = 4 * epochs  # 60 examples, batch 16
    optimizer = AGC(keras.optimizers.SGD(OneCycle(0.3, total_steps=steps), momentum=0.95), clipping=0.02,
                    exclude=["^logits/"])
    model = mlp(width=12)
    history = fit(model, optimizer, loss=LDAMLoss(counts, scale=5.0), epochs=epochs, n=60, counts=counts,
                  callbacks=[OneCycleMomentum(total_steps=steps), DeferredReweighting(start_epoch=2, beta=0.99)],
                  metrics=["accuracy"])
    return {"values": history["loss"] + history["accuracy"], "loss": history["loss"],
            "accuracy": history["accuracy"]}


CHECKS = {
    **{f"optimizer/{n}": check_optimizer for n in ("adafactor", "sm3", "agc_adam_exclude", "agc_adam",
                                                    "lookahead_adamw")},
    **{f"schedule/{n}": check_schedule for n in ("constant", "cosine", "exponential", "piecewise", "polynomial",
                                                  "power", "step", "cosine_restarts", "triangular", "triangular2",
                                                  "exp_range", "one_cycle", "plateau")},
    **{f"layer/{n}": check_layer for n in ("ws_conv1d", "ws_conv2d", "extended_bn", "acnet", "repvgg",
                                            "recompute", "logit_adjustment")},
    **{f"loss/{n}": check_loss for n in ("sparse_crossentropy", "class_balanced", "class_balanced_focal", "ldam",
                                          "logit_adjusted", "balanced_softmax", "sparse_focal", "huber")},
    "callback/one_cycle_momentum": check_one_cycle_momentum,
    "callback/deferred_reweighting": check_deferred_reweighting,
    "callback/time_to_target": check_time_to_target,
    "callback/resumable_state": check_resumable_state,
    "callback/swa": check_swa,
    "tool/lr_find": check_lr_find,
    "example/gan": check_gan,
    "recipe/agc_one_cycle_drw": lambda _n: combined_recipe(),
}


def main(argv: list[str]) -> None:
    only = None
    if "--only" in argv:
        only = argv[argv.index("--only") + 1].split(",")
    results = {}
    for name, fn in CHECKS.items():
        if only and not any(name.startswith(o) for o in only):
            continue
        start = time.perf_counter()
        try:
            results[name] = fn(name.split("/", 1)[1])
            results[name]["seconds"] = round(time.perf_counter() - start, 2)
        except Exception as exc:  # reported per component; the parent test fails on it
            results[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc(limit=-4)}
    print(json.dumps({"backend": BACKEND, "keras": keras.__version__, "results": results}))


if __name__ == "__main__":
    main(sys.argv[1:])
