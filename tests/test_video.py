"""experiments.video: targets, what each kind reads, a tiny run, bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import video as vid

TINY = ["--synthetic", "400", "--data.train-clips", "32", "--data.val-clips", "8",
        "--data.test-clips", "8", "--data.val-digits", "100", "--data.frames", "4", "6",
        "--train.epochs", "1", "--train.batch-size", "16", "--model.channels", "4", "8",
        "--model.features", "16", "--model.hidden", "16"]  # fmt: skip


def test_targets_name_each_present_digit_and_its_direction():
    data = vid.DataConfig(train_clips=20, val_clips=4, test_clips=4, val_digits=50, frames=(4, 6))
    config = vid.Config(data=data, synthetic=300)
    clips = vid.make_clips(config, None)
    arrays = vid.as_arrays(clips["train"])
    for row, (digits, dirs) in enumerate(zip(clips["train"].digits, clips["train"].directions)):
        present = {int(d): int(r) for d, r in zip(digits, dirs) if d >= 0}
        assert set(np.flatnonzero(arrays["present"][row])) == set(present)
        assert {d: int(arrays["direction"][row, d]) for d in present} == present
        assert (arrays["direction"][row] >= 0).sum() == len(present)


def test_what_each_kind_reads():
    frames = jnp.asarray(np.random.default_rng(0).integers(0, 255, (2, 5, 64, 64)), jnp.uint8)
    later = frames.at[:, 1:].set(0)  # only the first frame left
    lengths = jnp.array([5, 3], jnp.int32)
    beyond = frames.at[1, 3:].set(255)  # after the second clip's length
    for kind in vid.KINDS:
        model = vid.ClipModel(kind, (4, 8), 16, 16)
        params = model.init(jax.random.PRNGKey(0))
        digits, directions = model.apply(params, frames, lengths)
        assert digits.shape == (2, 10) and directions.shape == (2, 10, 8)
        first_only = np.allclose(model.apply(params, later, lengths)[0], digits, atol=1e-5)
        assert first_only == (kind == "frame"), kind
        np.testing.assert_allclose(model.apply(params, beyond, lengths)[0][1], digits[1], atol=1e-5)


def test_tiny_run_and_bad_settings(tmp_path, capsys):
    vid.main([*TINY, "--workdir", str(tmp_path / "run")])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0 <= results["clip_accuracy"] <= results["digits_accuracy"] <= 1
    assert set(results["by_digit_count"]) <= {"1", "2"}
    assert (tmp_path / "run" / "figures" / "test_clips.png").stat().st_size > 1000
    for args, message in (
        (["--model.kind", "gru"], "unknown --model.kind 'gru'"),
        (["--data.frames", "0", "4"], "1 <= min <= max frames"),
    ):
        with pytest.raises(SystemExit) as stop:
            vid.main([*TINY, *args])
        assert stop.value.code == 2 and message in capsys.readouterr().err
