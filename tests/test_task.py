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
        steps=5,
        evaluate=lambda params: {"mse": 0.0},
        eval_every=5,
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
        ({"steps": 0}, "at least one step"),
    ],
)
def test_bad_settings_are_user_errors(kw, message):
    with pytest.raises(ConfigError, match=message) as err:
        make(**kw)
    assert isinstance(err.value, UserError)
