"""A run's PNG plots: what each panel draws, read back from the figure (the PNG itself written once per kind)."""

import numpy as np
import pytest

from kerastricks import plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch):
    """Figures the plot functions would save: ``[(figure, path), ...]`` (nothing written)."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append((fig, path)))
    return figures


def _lines(ax):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


def test_learning_curves_draw_one_panel_per_metric_train_and_validation(drawn):
    rows = [{"epoch": 1, "loss": 2.0, "accuracy": 0.3, "val_loss": 2.5, "val_accuracy": 0.25, "learning_rate": 0.1,
             "elapsed_s": 1.0, "phase": 0},
            {"epoch": 2, "loss": 1.0, "accuracy": 0.6, "val_loss": 1.5, "learning_rate": 0.05, "elapsed_s": 2.0,
             "phase": 1}]
    plots.learning_curves(rows, "curves.png", title="run")
    (fig, path), = drawn
    assert str(path) == "curves.png" and fig._suptitle.get_text() == "run"
    loss, accuracy = fig.axes  # learning_rate, elapsed_s, phase are not metrics
    assert (loss.get_ylabel(), accuracy.get_ylabel()) == ("loss", "accuracy")
    assert _lines(loss) == {"train": ([1, 2], [2.0, 1.0]), "validation": ([1, 2], [2.5, 1.5])}
    got = _lines(accuracy)
    assert got["train"] == ([1, 2], [0.3, 0.6])
    assert got["validation"][1][0] == 0.25 and np.isnan(got["validation"][1][1])  # an epoch without the value

    drawn.clear()
    plots.learning_curves([{"epoch": 1, "loss": 0.5, "mae": 0.4}, {"epoch": 2, "loss": 0.3, "mae": 0.2}], "r.png")
    (fig, _), = drawn
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "mae"]
    assert all(set(_lines(ax)) == {"train"} for ax in fig.axes)  # no validation data: one line each


def test_learning_rate_curve_draws_the_rates_against_steps(drawn):
    steps, rates = np.arange(0, 50, 10), np.array([0.1, 0.08, 0.05, 0.02, 0.0])
    plots.learning_rate_curve(steps, rates, "lr.png")
    (fig, _), = drawn
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), steps)
    np.testing.assert_array_equal(line.get_ydata(), rates)


def test_confusion_matrix_shows_the_counts(drawn):
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    plots.confusion_matrix_plot(matrix, ["a", "b", "c"], "cm.png")
    (fig, _), = drawn
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), matrix)
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert {k: int(t.get_text()) for k, t in cells.items()} == {(i, j): matrix[i, j] for i in range(3)
                                                                for j in range(3)}
    # dark cells (more than half the largest count) get white text
    assert {k for k, t in cells.items() if t.get_color() == "white"} == {(1, 1), (2, 2), (0, 0)}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    drawn.clear()
    plots.confusion_matrix_plot(np.eye(31, dtype=int), [str(i) for i in range(31)], "big.png")
    assert len(drawn[0][0].axes[0].texts) == 0  # more than 30 classes: no cell values


def test_per_class_accuracy_orders_classes_by_training_count(drawn):
    recall, counts, names = [0.5, 0.9, 0.2, 0.7], [10, 100, 0, 10], ["a", "b", "c", "d"]
    plots.per_class_accuracy_plot(recall, counts, names, "pc.png")
    (fig, _), = drawn
    bars_ax, counts_ax = fig.axes
    order = [1, 0, 3, 2]  # head first; equal counts keep their class order
    assert [p.get_height() for p in bars_ax.patches] == [recall[i] for i in order]
    assert [t.get_text() for t in bars_ax.get_xticklabels()] == [names[i] for i in order]
    (line,) = counts_ax.get_lines()
    assert list(line.get_ydata()) == [100, 10, 10, 1]  # a class with no examples is drawn at 1 on the log axis
    assert counts_ax.get_yscale() == "log"


def test_per_class_accuracy_plot_writes_a_png(tmp_path):
    path = tmp_path / "p.png"
    plots.per_class_accuracy_plot([0.5, 0.9, 0.2], [10, 100, 1], ["a", "b", "c"], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_plot_writes_a_png_and_no_temp_file(tmp_path):
    plots.learning_curves([{"epoch": 1, "loss": 1.0}], tmp_path / "plots" / "curves.png")
    plots.learning_rate_curve(np.arange(3), np.ones(3), tmp_path / "plots" / "lr.png")
    plots.confusion_matrix_plot(np.eye(2, dtype=int), ["a", "b"], tmp_path / "plots" / "cm.png")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["cm.png", "curves.png", "lr.png"]
    assert all(p.read_bytes()[:8] == PNG for p in (tmp_path / "plots").iterdir())
