"""Train the LeNet-style conv net on scikit-learn's 8x8 handwritten digits, with Adam.

Run: python -m mixedad.examples.train_digits [--epochs N] [--batch-size B] [--seed S]

The data (1797 images bundled with scikit-learn, no download) are split 80/20,
stratified. The net is :func:`mixedad.examples.models.lenet` with 3x3 kernels and padding 1
(8x8 -> 4x4 -> 2x2, 64 features); the loss is the mean cross-entropy; each step is one
:func:`mixedad.value_and_gradient` call and one :class:`mixedad.optim.Adam` step. The
defaults reach 96-98% test accuracy (depending on the seed) in a few seconds on one core. Needs the
``examples`` extra (``pip install "mixedad[examples]"``) for scikit-learn.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from typing import TextIO

import numpy as np

from .. import nn
from ..api import value_and_gradient
from ..optim import Adam
from .models import lenet, lenet_params

PADDING = 1
KERNEL_SIZE = 3


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """(train_images, train_labels, test_images, test_labels): float32 (N, 1, 8, 8) in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError("this example needs scikit-learn for its bundled digits data set: "
                          "pip install 'mixedad[examples]' (or pip install scikit-learn)") from error
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for digit in np.unique(labels):  # stratified: the same fraction of every class in the test set
        members = rng.permutation(np.flatnonzero(labels == digit))
        test[members[: int(round(test_fraction * len(members)))]] = True
    return images[~test], labels[~test], images[test], labels[test]


class ProgressBar:
    """A one-line text progress bar: ``[#######.......] 45/90 loss 0.123 1.2s`` redrawn in place."""

    def __init__(self, total: int, width: int = 30, stream: TextIO | None = None, label: str = ""):
        self.total = total
        self.width = width
        self.stream = stream if stream is not None else sys.stdout
        self.label = label
        self.start = time.perf_counter()

    def update(self, done: int, message: str = "") -> None:
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label}[{bar}] {done}/{self.total} {message} {elapsed:.1f}s")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def loss_function(params, images, labels):
    """Mean cross-entropy of the conv net's logits against the integer labels."""
    return nn.cross_entropy(lenet(params, images, padding=PADDING), labels)


def accuracy(params, images, labels, batch: int = 512) -> float:
    """The fraction of ``images`` whose largest logit is the right label."""
    correct = 0
    for start in range(0, len(labels), batch):
        logits = lenet(params, images[start:start + batch], padding=PADDING)
        correct += int(np.sum(np.argmax(logits, axis=1) == labels[start:start + batch]))
    return correct / len(labels)


def train(epochs: int = 15, batch_size: int = 32, learning_rate: float = 5e-3, seed: int = 0,
          stream: TextIO | None = None, quiet: bool = False):
    """Train on the digits; return ``(params, test_accuracy)``. Progress goes to ``stream``.

    The learning rate follows a cosine from ``learning_rate`` down to 0 over the run.
    """
    stream = stream if stream is not None else sys.stdout
    train_images, train_labels, test_images, test_labels = load_digits_split(seed)
    rng = np.random.default_rng(seed)
    params = lenet_params(rng, image_size=8, kernel_size=KERNEL_SIZE, padding=PADDING)
    optimizer = Adam(learning_rate=learning_rate)
    steps_per_epoch = -(-len(train_labels) // batch_size)
    total_steps = epochs * steps_per_epoch
    if not quiet:
        stream.write(f"digits: {len(train_labels)} training and {len(test_labels)} test images, "
                     f"{epochs} epochs of {steps_per_epoch} steps\n")
    for epoch in range(epochs):
        bar = None if quiet else ProgressBar(steps_per_epoch, stream=stream, label=f"epoch {epoch + 1:2d} ")
        order = rng.permutation(len(train_labels))
        running = 0.0
        for step in range(steps_per_epoch):
            batch = order[step * batch_size:(step + 1) * batch_size]
            progress = (epoch * steps_per_epoch + step) / total_steps
            optimizer.learning_rate = learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
            loss, grads = value_and_gradient(loss_function, params, train_images[batch], train_labels[batch])
            params = optimizer.step(params, grads)
            running += float(loss)
            if bar is not None and (step % 5 == 4 or step == steps_per_epoch - 1):
                bar.update(step + 1, f"loss {running / (step + 1):.3f}")
    test_accuracy = accuracy(params, test_images, test_labels)
    if not quiet:
        stream.write(f"test accuracy: {test_accuracy:.2%} "
                     f"(train {accuracy(params, train_images, train_labels):.2%})\n")
    return params, test_accuracy


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-3, help="initial (cosine decay to 0)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    _, test_accuracy = train(args.epochs, args.batch_size, args.learning_rate, args.seed)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    return test_accuracy


if __name__ == "__main__":
    main()
