"""Many/medium/few-shot accuracy (the per-class accuracy plot: tests/test_plots.py)."""

import numpy as np
import pytest

from kerastricks.evaluation import classification_metrics, shot_groups


def test_groups_scale_with_the_head_count():
    # CIFAR-100-LT (n_max = 500): the usual absolute thresholds > 100 and < 20
    counts = np.array([500, 101, 100, 20, 19, 5])
    assert shot_groups(counts) == {"many": [0, 1], "medium": [2, 3], "few": [4, 5]}
    # the same shape at 10x the size lands in the same groups
    assert shot_groups(counts * 10) == shot_groups(counts)


def test_shot_accuracy_is_mean_recall_of_each_group():
    counts = [500, 300, 50, 30, 10, 5]
    y_true = np.repeat(np.arange(6), 10)
    rng = np.random.default_rng(0)
    y_pred = np.where(rng.random(60) < np.repeat([0.9, 0.8, 0.6, 0.5, 0.3, 0.1], 10), y_true, (y_true + 1) % 6)
    got = classification_metrics(y_true, y_pred, 6, train_counts=counts)
    recall = np.array([np.mean(y_pred[y_true == c] == c) for c in range(6)])  # independent recall
    shots = got["shots"]
    assert shots["many_shot_accuracy"] == pytest.approx(recall[[0, 1]].mean())
    assert shots["medium_shot_accuracy"] == pytest.approx(recall[[2, 3]].mean())
    assert shots["few_shot_accuracy"] == pytest.approx(recall[[4, 5]].mean())
    assert shots["thresholds"] == {"many_above": 100.0, "few_below": 20.0}
    assert got["train_imbalance_ratio"] == 100.0
    assert [r["train_count"] for r in got["per_class"]] == counts


def test_balanced_training_data_report_no_shots_and_mismatch_raises():
    got = classification_metrics([0, 1], [0, 1], 2, train_counts=[50, 40])
    assert "shots" not in got and got["train_imbalance_ratio"] == 1.25
    with pytest.raises(ValueError, match="one count per class"):
        classification_metrics([0, 1], [0, 1], 2, train_counts=[5, 4, 3])
