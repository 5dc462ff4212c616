"""experiments.video: targets, what each kind reads (the order-free kinds cannot see order),
splits' own digits, a tiny run of each kind, bad input."""

import json

import jax
import numpy as np
import pytest

from experiments import video as vid
from rnn_jax.evaluation import clips
from rnn_jax.models.clips import KINDS, ClipModel

TINY = ["--synthetic", "400", "--data.train-clips", "32", "--data.val-clips", "8",
        "--data.test-clips", "8", "--data.val-digits", "100", "--data.frames", "4", "6",
        "--data.size", "24", "--data.speed", "0.5", "1.5", "--train.epochs", "1",
        "--train.batch-size", "16", "--model.channels", "4", "8",
        "--model.hidden", "16"]  # fmt: skip


def tiny_config(**data) -> vid.Config:
    d = dict(train_clips=20, val_clips=4, test_clips=4, val_digits=50, frames=(4, 6), size=24)
    return vid.Config(data=vid.DataConfig(**{**d, **data}, speed=(0.5, 1.5)), synthetic=300)


def test_targets_name_each_digit_its_direction_and_the_first():
    clips = vid.make_clips(tiny_config(), None)
    arrays = vid.moving.targets(clips["train"])
    c = clips["train"]
    for row, (digits, dirs) in enumerate(zip(c.digits, c.directions)):
        present = {int(d): int(r) for d, r in zip(digits, dirs) if d >= 0}
        assert set(np.flatnonzero(arrays["present"][row])) == set(present)
        assert {d: int(arrays["direction"][row, d]) for d in present} == present
        assert (arrays["direction"][row] >= 0).sum() == len(present)
        assert arrays["first"][row] == (c.first[row] if len(present) == 2 else -1)
        for slot, digit in enumerate(digits[: len(present)]):
            start, end = c.windows[row, slot]
            shows = arrays["seen"][row, :, digit] > 0
            assert shows.sum() == end - start + 1 and shows[start] and shows[end]
            assert c.frames[row, start].any()


def test_splits_never_share_digits():
    clips = vid.make_clips(tiny_config(train_clips=60, val_clips=30, test_clips=30), None)
    seen = {}
    for name, c in clips.items():  # a digit is its downscaled image within the clip
        seen[name] = {c.frames[i, 0].tobytes() for i in range(len(c.lengths))}
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"]


@pytest.mark.slow
def test_the_average_answers_a_clip_and_its_reversal_alike():
    """So on directions and the first digit it is right on at most one of the two."""
    config = tiny_config(test_clips=12)
    test = vid.make_clips(config, None)["test"]
    model = ClipModel("average", (4, 8), 16, size=24)
    params = model.init(jax.random.PRNGKey(1))
    scores = vid.make_fns(model)[2]
    ahead = clips.score(scores, params, vid.moving.targets(test))
    back = clips.score(scores, params, vid.moving.targets(vid.moving.reverse(test)))
    assert np.all(ahead["dirs"] + back["dirs"] <= ahead["shown"])
    assert not np.any(ahead["first"] & back["first"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_tiny_run_of_each_kind(tmp_path, kind):
    vid.EXPERIMENT.main([*TINY, "--model.kind", kind, "--workdir", str(tmp_path / kind)])
    results = json.loads((tmp_path / kind / "results.json").read_text())
    assert 0 <= results["clip_accuracy"] <= results["digits_accuracy"] <= 1
    assert set(results["by_digit_count"]) <= {"1", "2"}
    assert 0 <= results["reversed_clips"]["direction_accuracy"] <= 1
    assert (tmp_path / kind / "figures" / "test_clips.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model.kind", "gru"], "--model.kind must be one of ('lstm', 'average', 'frame')"),
        (["--data.frames", "0", "4"], "each of --data.frames must be >= 1"),
        (["--data.frames", "5", "4"], "1 <= min <= max frames"),
        (["--data.frames", "2", "4"], "two-digit clips need at least 3 frames"),
        (["--data.speed", "3", "4"], "needs a canvas of at least"),
        (["--data.digit", "12"], "--data.digit must be one of (7, 14, 28)"),
        (["--data.speed", "0", "1"], "each of --data.speed must be > 0"),
        (["--model.channels", "4", "4", "4", "4", "4"], "--model.channels lists 1-4"),
        (["--data.train-clips", "0"], "--data.train-clips must be >= 1, got 0"),
    ],
)
def test_bad_settings_are_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        vid.EXPERIMENT.main([*TINY, *args])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and err.startswith("error:")
