"""The digits training example reaches its accuracy target (needs scikit-learn)."""
import io

import pytest

pytest.importorskip("sklearn")

from mixedad.examples import train_digits  # noqa: E402


@pytest.mark.slow
def test_digits_conv_net_reaches_95_percent_test_accuracy():
    stream = io.StringIO()
    params, accuracy = train_digits.train(stream=stream)
    assert accuracy >= 0.95, stream.getvalue()
    output = stream.getvalue()
    assert "test accuracy" in output and "epoch 15 [" in output and "#" * 30 in output


def test_split_is_stratified_and_disjoint():
    train_images, train_labels, test_images, test_labels = train_digits.load_digits_split(seed=1)
    assert len(train_labels) + len(test_labels) == 1797
    assert train_images.shape[1:] == (1, 8, 8) and train_images.dtype.name == "float32"
    assert 0.0 <= train_images.min() and train_images.max() <= 1.0
    counts = [int((test_labels == digit).sum()) for digit in range(10)]
    assert min(counts) >= 35 and max(counts) <= 37  # about 20% of each class (174 to 183 images)


def test_progress_bar_redraws_one_line():
    stream = io.StringIO()
    bar = train_digits.ProgressBar(4, width=8, stream=stream, label="x ")
    bar.update(2, "loss 1.0")
    bar.update(4, "loss 0.5")
    first, second = stream.getvalue().split("\r")[1:]
    assert first.startswith("x [####....] 2/4 loss 1.0")
    assert second.startswith("x [########] 4/4 loss 0.5") and second.endswith("\n")
