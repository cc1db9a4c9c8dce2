import pytest

from pmtiqa.method.schedule import learning_rate, task_weights, trains_regression


@pytest.mark.parametrize(
    "schedule, first, middle, last",
    [
        ("progressive", (0.0, 1.0), (0.5, 0.5), (1.0, 0.0)),
        ("reverse", (1.0, 0.0), (0.5, 0.5), (0.0, 1.0)),
        ("fixed", (0.5, 0.5), (0.5, 0.5), (0.5, 0.5)),
        ("regression", (1.0, 0.0), (1.0, 0.0), (1.0, 0.0)),
    ],
)
def test_task_weights_first_middle_last(schedule, first, middle, last):
    epochs = 11
    assert task_weights(schedule, 0, epochs) == pytest.approx(first)
    assert task_weights(schedule, 5, epochs) == pytest.approx(middle)
    assert task_weights(schedule, 10, epochs) == pytest.approx(last)


def test_progressive_is_linear_and_sums_to_one():
    weights = [task_weights("progressive", t, 5) for t in range(5)]
    assert [w[0] for w in weights] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert all(a + b == pytest.approx(1) for a, b in weights)


@pytest.mark.parametrize("schedule", ["progressive", "reverse", "fixed", "regression"])
def test_single_epoch_trains_regression(schedule):
    assert task_weights(schedule, 0, 1) == (1.0, 0.0)


def test_task_weights_reject_bad_input():
    with pytest.raises(ValueError, match="unknown schedule"):
        task_weights("sideways", 0, 3)
    with pytest.raises(ValueError, match="outside"):
        task_weights("progressive", 3, 3)


def test_learning_rate_of_30_epochs_is_the_authors():
    """They set lr0 / 10 ** (t // 6) after epoch t (0-based): seven epochs at lr0, then six at each step."""
    lr0 = 1.1e-4
    authors = [lr0] + [lr0 / 10 ** (t // 6) for t in range(29)]  # epoch 0, then what epoch t leaves for t + 1
    ours = [learning_rate(lr0, t, 6, 0.1) for t in range(30)]
    assert ours == pytest.approx(authors, rel=1e-12)
    assert [round(lr0 / r) for r in ours] == [1] * 7 + [10] * 6 + [100] * 6 + [1000] * 6 + [10000] * 5


@pytest.mark.parametrize("schedule, run, epochs, trains", [
    ("progressive", 1, 3, False),  # epoch 1 of a progressive run is classification alone
    ("progressive", 2, 3, True),
    ("reverse", 1, 3, True),
    ("regression", 1, 30, True),
    ("progressive", 1, 1, True),  # one epoch: regression alone
])
def test_trains_regression(schedule, run, epochs, trains):
    assert trains_regression(schedule, run, epochs) is trains
