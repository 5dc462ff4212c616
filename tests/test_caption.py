"""experiments.caption: captions follow the layout, splits keep to their digits, a tiny CLI
run, the loading API, bad input."""

import json

import numpy as np
import pytest

import experiments
from experiments import caption as cap
from rnn_jax.data import mnist, scenes

TINY = [
    "--synthetic",
    "600",
    "--data.train-scenes",
    "64",
    "--data.val-scenes",
    "16",
    "--data.test-scenes",
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
    "16",
    "--model.embed",
    "8",
    "--beams",
    "1",
]


def test_captions_follow_the_layout_and_round_trip():
    for cells, want in (
        ([7, 2, -1, -1], "a seven left of a two"),
        ([-1, 8, -1, 3], "an eight above a three"),
        ([7, -1, -1, 8], "a seven above and left of an eight"),
        ([-1, 7, 2, -1], "a seven above and right of a two"),
        ([1, -1, 4, 9], "three digits : one , four and nine"),
        ([1, 4, 9, 2], "top row one and four , bottom row nine and two"),
    ):
        text = scenes.caption(np.array(cells))
        assert text == want
        assert cap.words(scenes.caption_ids(text)) == text
    assert len(scenes.caption_ids(want)) == scenes.MAX_LEN


def test_scenes_are_fixed_per_seed_and_each_split_keeps_to_its_digits():
    config = cap.Config(
        data=cap.DataConfig(train_scenes=30, val_scenes=10, test_scenes=10, val_digits=50),
        synthetic=400,
    )
    data = cap.make_scenes(config, None)
    again = cap.make_scenes(config, None)
    pools = mnist.splits(None, val_size=50, seed=0, synthetic_size=400)
    for name, s in data.items():
        np.testing.assert_array_equal(s.images, again[name].images)
        assert s.captions == [scenes.caption(row) for row in s.labels]
        for row, (image, cells, ids) in enumerate(zip(s.images, s.labels, s.sources)):
            assert 2 <= (cells >= 0).sum() <= 4
            for cell in np.flatnonzero(cells >= 0):
                r, c = divmod(cell, 2)
                digit = pools[name]["image"][ids[cell]]
                region = image[32 * r : 32 * r + 32, 32 * c : 32 * c + 32]
                assert digit.sum() == region.sum()  # the pool's digit, whole, in its cell


@pytest.mark.slow
def test_cli_tiny_run_then_report_and_load(tmp_path):
    run = tmp_path / "run"
    cap.EXPERIMENT.main(
        [*TINY, "--workdir", str(run)]
    )  # in-process: loading below reuses its compiles
    results = json.loads((run / "results.json").read_text())
    assert set(results) == {"best_step", "val", "greedy", "beam1"}
    assert results["beam1"]["exact_match"] == results["greedy"]["exact_match"]
    for name in ("test_captions.png", "attention.png", "curves.png"):
        assert (run / "figures" / name).stat().st_size > 1000
    captioner = experiments.load(run)
    images = cap.make_scenes(captioner.config, None)["test"].images[:2]
    said = captioner.predict(images, beam=1)
    assert len(said) == 2 and all(w in scenes.VOCAB for s in said for w in s.split())
    with pytest.raises(ValueError, match=r"expected images \[N, 64, 64\]"):
        captioner.predict(images[:, :32])


def test_bad_settings(capsys):
    for args, message in (
        (["--model.attention", "luong"], "--model.attention must be one of"),
        (["--model.channels", "4", "8", "8", "8", "8", "8"], "needs 1-5 conv layers"),
        (["--generate"], "--generate needs --from"),
    ):
        with pytest.raises(SystemExit) as stop:
            cap.EXPERIMENT.main([*TINY, *args])
        assert stop.value.code == 2 and message in capsys.readouterr().err
