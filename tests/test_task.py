"""Task: the checks that turn a bad experiment setting into a clear error before training."""

import numpy as np
import pytest

from rnn_jax.errors import ConfigError, UserError
from rnn_jax.training import task


def make(**kw) -> task.Task:
    fields = dict(
        experiment="toy",
        config=None,
        init=lambda key: {},
        loss_fn=lambda params, batch, key: (0.0, {}),
        train_data={"x": np.zeros((10, 2))},
        batch_size=4,
        schedule=task.Schedule(steps=5, eval_every=5, log_every=1),
        evaluate=lambda params: {"mse": 0.0},
        best="mse",
        mode="min",
        report=lambda params, run_dir: task.Report({}, {}, ""),
    )
    return task.Task(**{**fields, **kw})


def test_a_valid_task_names_its_checkpoint_metric():
    assert make().best_metric == "val/mse"


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"mode": "lowest"}, "mode must be one of"),
        ({"batch_size": 11}, "--train.batch-size 11 exceeds the 10 training examples"),
        ({"schedule": task.Schedule(0, 1, 1)}, "at least one step"),
    ],
)
def test_bad_settings_are_user_errors(kw, message):
    with pytest.raises(ConfigError, match=message) as err:
        make(**kw)
    assert isinstance(err.value, UserError)


def test_an_epoch_schedule_counts_whole_batches_and_spaces_evaluations():
    train = task.EpochTrainConfig(epochs=3, batch_size=32)
    assert task.by_epochs(train, 100, evals=2, logs=4) == task.Schedule(9, 1, 1)
    assert task.by_epochs(train, 1000, evals=2, logs=4) == task.Schedule(93, 15, 7)


def test_mnist_settings_draw_synthetic_digits_by_the_seed():
    a = task.MnistConfig(seed=1, synthetic=50).digits(None, val_size=10)
    b = task.MnistConfig(seed=1, synthetic=50).digits(None, val_size=10)
    assert len(a["val"]["label"]) == 10 and len(a["train"]["label"]) == 40
    np.testing.assert_array_equal(a["val"]["image"], b["val"]["image"])
