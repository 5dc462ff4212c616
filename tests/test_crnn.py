"""experiments.crnn: split hygiene, a tiny CLI run, the loading API, bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments
from experiments import crnn
from rnn_jax.data import mnist, scenes

TINY = [
    "--synthetic",
    "600",
    "--data.train-strings",
    "64",
    "--data.val-strings",
    "16",
    "--data.test-strings",
    "24",
    "--data.val-digits",
    "100",
    "--train.batch-size",
    "16",
    "--train.epochs",
    "1",
    "--model.channels",
    "4",
    "8",
    "8",
    "--model.hidden",
    "8",
    "--beam-strings",
    "6",
]


def test_each_split_reads_only_its_own_digits():
    config = crnn.Config(
        data=crnn.DataConfig(train_strings=30, val_strings=10, test_strings=10, val_digits=50),
        synthetic=400,
    )
    strings, pools = crnn.make_strings(config, None)
    np.testing.assert_array_equal(
        pools["test"]["image"],
        mnist.splits(None, val_size=50, seed=0, synthetic_size=400)["test"]["image"],
    )
    for name in ("train", "val", "test"):
        crops, _ = scenes.crops(strings[name])
        ids = strings[name].sources[strings[name].labels >= 0]
        assert np.all(crops >= pools[name]["image"][ids])  # each digit is its pool's image
    np.testing.assert_array_equal(
        crnn.make_strings(config, None)[0]["test"].images, strings["test"].images
    )


@pytest.mark.slow
def test_cli_tiny_run_then_report_and_load(tmp_path, capsys):
    run = tmp_path / "run"
    crnn.EXPERIMENT.main(
        [*TINY, "--workdir", str(run)]
    )  # in-process: the report below reuses its compiles
    results = json.loads((run / "results.json").read_text())
    for key in ("greedy", "segment_then_classify", "classify_digits_alone", "beam8"):
        assert set(results[key]) == {"all", "1-5 digits", "by_length"}
        assert 0 <= results[key]["all"]["seq_accuracy"] <= 1
    assert results["greedy"]["all"]["n"] == 24 and results["beam8"]["all"]["n"] == 6
    for name in ("accuracy_by_length.png", "test_strings.png", "curves.png"):
        assert (run / "figures" / name).stat().st_size > 1000

    report = tmp_path / "report"
    crnn.EXPERIMENT.main(
        ["--generate", "--from", str(run), "--beam-strings", "0", "--workdir", str(report)]
    )
    again = json.loads((report / "results.json").read_text())
    assert again["greedy"] == results["greedy"] and "beam8" not in again
    assert json.loads((run / "results.json").read_text()) == results  # the run's own, kept
    with pytest.raises(SystemExit) as stop:  # never over a folder's results
        crnn.EXPERIMENT.main(["--generate", "--from", str(run), "--workdir", str(run)])
    assert stop.value.code == 2
    reader = experiments.load(run)
    images = crnn.make_strings(reader.config, None)[0]["test"].images[:3]
    assert len(reader.predict(images)) == 3
    with pytest.raises(ValueError, match=r"expected images \[N, 32, 224\]"):
        reader.predict(images[:, :28])


def test_bad_settings_are_clear_errors(capsys):
    for args, message in (
        (["--model.channels", "4", "8"], "needs three conv layers"),
        (["--data.width", "100"], "need a canvas of at least"),
        (["--generate"], "--generate needs --from"),
    ):
        with pytest.raises(SystemExit) as stop:
            crnn.EXPERIMENT.main([*TINY, *args])
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_the_model_reads_one_column_of_logits_per_4_pixels(key):
    model = crnn.build_reader(crnn.Config())
    params = jax.eval_shape(model.init, key)
    logits = jax.eval_shape(model.logits, params, jnp.zeros((2, 32, 224)))
    assert logits.shape == (2, 56, crnn.BLANK + 1)
