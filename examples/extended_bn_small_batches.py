"""BatchNorm against Extended BN on digits at small batch sizes (docs/techniques/extended_batch_norm.md).

Six in-process trainer runs (digits preset, 3 epochs, AdamW at 1e-3, seed 0), no run directory written:

    python examples/extended_bn_small_batches.py

Prints one Markdown row per batch size: test accuracy with BatchNorm and with Extended BN, and the wall
time of each run. Batch 2 means ~650 steps per epoch: the whole script takes minutes on a small CPU.
"""

import time

import kerastricks as kt


def main() -> None:
    print("| batch size | BatchNorm | Extended BN | Δ | wall BN / EBN |")
    print("|---|---|---|---|---|")
    for bs in (2, 4, 8):
        accuracy, wall = {}, {}
        for norm in ("batch", "extended"):
            recipe = kt.load_recipe(preset="digits", overrides=[
                f"model.norm={norm}", f"train.batch_size={bs}", "train.epochs=3", "optimizer.learning_rate=0.001"])
            start = time.perf_counter()
            accuracy[norm] = kt.Trainer(recipe, write=False, verbose=0).fit().report["test"]["accuracy"]
            wall[norm] = time.perf_counter() - start
        delta = accuracy["extended"] - accuracy["batch"]
        print(f"| {bs} | {accuracy['batch']:.4f} | {accuracy['extended']:.4f} | {delta:+.4f} | "
              f"{wall['batch']:.0f} s / {wall['extended']:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
