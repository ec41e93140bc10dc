"""A small GAN on MNIST-1D, scored by a trained MNIST-1D classifier (the numbers in docs/techniques/gan.md).

    kerastricks train --preset mnist1d --out runs/classifier          # the judge (~99% test accuracy)
    python examples/gan_mnist1d.py runs/classifier/model.keras --epochs 60 --out runs/gan

Trains :class:`kerastricks.examples.gan.GAN` (custom train_step; TTUR Adam rates on one-cycle schedules;
spectrally normalized discriminator) on the MNIST-1D training set, saves it as ``OUT/gan.keras``, and prints
the classifier score of the real test set, of the GAN's samples, and of a collapsed generator (one sample
repeated) for scale.
"""

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

import kerastricks as kt
from kerastricks.examples.gan import GAN, classifier_score, compile_gan, passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classifier", help="a trained MNIST-1D classifier (a run's model.keras)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--d-rate", type=float, default=4e-4, help="discriminator's peak learning rate")
    parser.add_argument("--g-rate", type=float, default=1e-4, help="generator's peak learning rate")
    parser.add_argument("--out", default="runs/gan")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    data = kt.data.load_dataset("mnist1d", validation_split=0.0)
    classifier = keras.saving.load_model(args.classifier)
    scale = float(np.abs(data.x_train).max())
    gan = GAN(data_scale=scale, seed=args.seed)
    steps = args.epochs * -(-len(data.x_train) // args.batch_size)
    compile_gan(gan, total_steps=steps, d_rate=args.d_rate, g_rate=args.g_rate)
    t0 = time.perf_counter()
    gan.fit(data.x_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gan.save(out / "gan.keras")

    samples = gan.generate(args.samples, seed=args.seed + 1)
    rows = {
        "real test set": classifier_score(data.x_test[: args.samples], classifier),
        "GAN samples": classifier_score(samples, classifier),
        "collapsed (one sample repeated)": classifier_score(np.repeat(samples[:1], args.samples, axis=0),
                                                            classifier),
    }
    print(f"\ntrained {args.epochs} epochs in {seconds:.0f} s; scores of {args.samples} samples:")
    print("| samples | classifier score | class entropy | mean confidence | classes seen | passes |")
    print("|---|---|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s['score']:.2f} | {s['class_entropy']:.3f} | {s['mean_confidence']:.3f} | "
              f"{s['classes_seen']} | {'yes' if passes(s) else 'no'} |")
    (out / "scores.json").write_text(json.dumps({"epochs": args.epochs, "train_seconds": seconds, **rows}, indent=2))


if __name__ == "__main__":
    main()
