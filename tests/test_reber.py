"""experiments.reber: targets, what a prediction counts as, tiny runs of both tasks, bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import reber as rb
from rnn_jax.data import reber
from rnn_jax.evaluation import grammar

SMALL = rb.DataConfig(lengths=(5, 14), train_strings=256, val_strings=64, test_strings=128)


def test_targets_match_the_strings():
    config = rb.Config(task="predict", data=SMALL)
    data = rb.make_splits(config)
    assert all(reber.accepts(s) for s in data["train"].strings)  # prediction: grammatical only
    arrays = reber.arrays(data["train"], 18, config.task)
    i = 0
    s = data["train"].strings[i]
    np.testing.assert_array_equal(arrays["legal"][i, : len(s)], reber.legal_next(s))
    steps, at_long = grammar.prediction_masks(
        jnp.asarray(arrays["length"][:1]), arrays["x"].shape[1]
    )
    assert int(steps.sum()) == len(s) - 1
    # The long-range step is read after the inner E and predicts the repeated branch.
    t = int(jnp.argmax(at_long[0]))
    assert s[t] == "E" and s[t + 1] == s[1]
    classify = reber.arrays(rb.make_splits(rb.Config(data=SMALL))["test"], 18, "classify")
    assert set(np.unique(classify["label"])) == {0, 1}


@pytest.mark.slow
def test_what_counts_as_solved():
    config = rb.Config(task="predict", data=SMALL)
    arrays = reber.arrays(rb.make_splits(config)["val"], 18, config.task)
    legal, length = jnp.asarray(arrays["legal"]), jnp.asarray(arrays["length"])
    truth = jnp.where(legal > 0.5, 5.0, -5.0)
    solved, long_right = grammar.prediction_scores(truth, legal, length)
    assert bool(jnp.all(solved)) and bool(jnp.all(long_right))
    # Wrong after the final E or in the padding: still solved.
    beyond = truth.at[0, int(length[0]) - 1 :].set(5.0)
    assert bool(grammar.prediction_scores(beyond, legal, length)[0][0])
    # The repeated branch predicted as both T and P: neither solved nor long-range right.
    t = int(length[0]) - 3
    both = truth.at[0, t, reber.INDEX["T"]].set(5.0).at[0, t, reber.INDEX["P"]].set(5.0)
    solved, long_right = grammar.prediction_scores(both, legal, length)
    assert not bool(solved[0]) and not bool(long_right[0]) and bool(jnp.all(solved[1:]))
    # One early mistake: not solved, long-range still right.
    early = truth.at[0, 0, reber.INDEX["B"]].set(5.0)
    solved, long_right = grammar.prediction_scores(early, legal, length)
    assert not bool(solved[0]) and bool(long_right[0])
    # An untrained network solves (almost) nothing.
    model = rb.build_model(config)
    _, _, correct = rb.make_fns(model, "predict")
    untrained, _ = correct(model.init(jax.random.PRNGKey(0)), arrays)
    assert float(jnp.mean(untrained)) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "predict"])
def test_tiny_runs_report_by_length(tmp_path, task):
    config = rb.Config(task=task, data=SMALL, train=rb.TrainConfig(epochs=2, batch_size=32))
    results = rb.EXPERIMENT.train_and_evaluate(
        config, rb.experiment.RunOptions(str(tmp_path / task))
    )
    saved = json.loads((tmp_path / task / "results.json").read_text())
    assert saved["curve"]["x"] == ["5-9", "10-14"] and len(saved["curve"]["y"]) == 2
    assert set(saved["by_inner_length"]) >= {"bins"}
    key = "accuracy_by_kind" if task == "classify" else "long_range_step"
    assert key in results
    assert (tmp_path / task / "figures" / "by_length.png").stat().st_size > 1000


def test_bad_settings_are_clear_errors(capsys):
    for args, message in (
        (["--task", "parse"], "--task must be one of ('classify', 'predict'), got parse"),
        (["--data.lengths", "2", "9"], "inner lengths must satisfy 5 <= min <= max"),
        (["--data.val-strings", "0"], "--data.val-strings must be >= 1, got 0"),
    ):
        with pytest.raises(SystemExit) as stop:
            rb.EXPERIMENT.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err
