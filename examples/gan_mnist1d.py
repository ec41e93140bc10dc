"""A small GAN on MNIST-1D, scored by a trained MNIST-1D classifier (the numbers in docs/techniques/gan.md).

    kerastricks train --preset mnist1d --out runs/classifier          # the judge (~99% test accuracy)
    python examples/gan_mnist1d.py runs/classifier/model.keras --out runs/gan

Trains :class:`kerastricks.examples.gan.GAN` (custom train_step on any Keras backend; hinge loss; TTUR Adam
rates on one-cycle schedules; by default conditional with an auxiliary classifier head, AC-GAN) on the MNIST-1D
training set, saves it as ``OUT/gan.keras``, and prints the scores of the real test set, of the GAN's samples,
of a collapsed generator (one sample repeated) and of one sample per class repeated, with each row's verdict:
passes = all ten classes seen, class entropy >= 0.9, mean confidence >= 0.5, a classifier score of at least
half the real data's and a nearest-neighbour distance of at least a quarter of the real data's (no copies).
Exits 0 when the GAN passes, 1 when it does not.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

import kerastricks as kt
from kerastricks.examples.gan import GAN, classifier_score, compile_gan, make_discriminator, make_generator, passes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classifier", help="a trained MNIST-1D classifier (a run's model.keras)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--d-rate", type=float, default=2e-3, help="discriminator's peak learning rate")
    parser.add_argument("--g-rate", type=float, default=1e-3, help="generator's peak learning rate")
    parser.add_argument("--loss", default="hinge", choices=["hinge", "nonsaturating"])
    parser.add_argument("--conditioning", default="auxiliary", choices=["none", "projection", "auxiliary"])
    parser.add_argument("--aux-weight", type=float, default=10.0, help="weight of the auxiliary class loss")
    parser.add_argument("--spectral-norm", action="store_true", help="spectral normalization in the discriminator")
    parser.add_argument("--out", default="runs/gan")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    data = kt.data.load_dataset("mnist1d", validation_split=0.0)
    classifier = keras.saving.load_model(args.classifier)
    classes = None if args.conditioning == "none" else int(data.num_classes)
    conditioning = "projection" if args.conditioning == "none" else args.conditioning
    gan = GAN(make_generator(num_classes=classes),
              make_discriminator(num_classes=classes, spectral_norm=args.spectral_norm, conditioning=conditioning),
              data_scale=float(np.abs(data.x_train).max()), seed=args.seed, loss=args.loss, num_classes=classes,
              aux_weight=args.aux_weight)
    steps = args.epochs * -(-len(data.x_train) // args.batch_size)
    compile_gan(gan, total_steps=steps, d_rate=args.d_rate, g_rate=args.g_rate)
    t0 = time.perf_counter()
    gan.fit(data.x_train, data.y_train if classes else None, batch_size=args.batch_size, epochs=args.epochs,
            verbose=2)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gan.save(out / "gan.keras")

    n = args.samples
    samples = gan.generate(n, seed=args.seed + 1)
    per_class = samples[np.arange(n) % 10]  # the first ten samples (one per class when conditional), repeated
    real = classifier_score(data.x_test[:n], classifier, labels=data.y_test[:n])
    rows = {
        "real test set": real,
        "GAN samples": classifier_score(samples, classifier, labels=gan.labels_for(n)),
        "collapsed (one sample repeated)": classifier_score(np.repeat(samples[:1], n, axis=0), classifier),
        "ten samples repeated": classifier_score(per_class, classifier),
    }
    print(f"\ntrained {args.epochs} epochs in {seconds:.0f} s on {keras.backend.backend()}; scores of {n} samples "
          f"(passes: >= half the real data's score, >= a quarter of its nearest-neighbour distance, ...):")
    print("| samples | classifier score | class entropy | mean confidence | classes seen | label accuracy | "
          "nearest-neighbour distance | passes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        label = f"{s['label_accuracy']:.3f}" if "label_accuracy" in s else "–"
        verdict = "yes" if passes(s, reference=real) else "no"
        print(f"| {name} | {s['score']:.2f} | {s['class_entropy']:.3f} | {s['mean_confidence']:.3f} | "
              f"{s['classes_seen']} | {label} | {s['nn_distance']:.2f} | {verdict} |")
    verdict = passes(rows["GAN samples"], reference=real)
    print(f"GAN {'PASSES' if verdict else 'FAILS'} its score")
    (out / "scores.json").write_text(json.dumps({"epochs": args.epochs, "train_seconds": seconds,
                                                 "backend": keras.backend.backend(), "passes": verdict, **rows},
                                                indent=2))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
