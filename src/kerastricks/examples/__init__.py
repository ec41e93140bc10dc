"""Worked examples built from kerastricks parts (importable, tested): :mod:`kerastricks.examples.gan`, a small
GAN on MNIST-1D with a custom ``train_step``."""
