"""Run directories: config, experiment checks, resume rules, metrics log."""

import json
from dataclasses import dataclass

import pytest

from rnn_jax.training import rundir


@dataclass(frozen=True)
class Inner:
    hidden: tuple[int, ...] = (4,)
    cell: str = "lstm"


@dataclass(frozen=True)
class Conf:
    inner: Inner = Inner()
    seed: int = 0


def test_config_round_trip():
    conf = Conf(Inner((3, 5), "gru"), 7)
    assert (
        rundir.config_from_dict(Conf, json.loads(json.dumps(rundir.config_to_dict(conf)))) == conf
    )


def test_prepare_writes_config_and_guards_reuse(tmp_path):
    run = rundir.prepare(tmp_path / "r", "exp", Conf(), resume=False)
    saved = json.loads((run / "config.json").read_text())
    assert saved["experiment"] == "exp" and saved["config"]["inner"]["hidden"] == [4]
    with pytest.raises(rundir.RunDirError, match="stopped before its first checkpoint; pass"):
        rundir.prepare(run, "exp", Conf(), resume=False)
    (run / "ckpt" / "10.orbax-checkpoint-tmp-1765000000").mkdir(parents=True)  # a save cut off
    assert rundir.checkpoint_steps(run) == []
    assert rundir.prepare(run, "exp", Conf(), resume=True) == run  # starts again from step 0
    (run / "ckpt" / "10").mkdir(parents=True)
    assert rundir.checkpoint_steps(run) == [10]
    with pytest.raises(rundir.RunDirError, match="already holds checkpoints; pass --resume"):
        rundir.prepare(run, "exp", Conf(), resume=False)
    with pytest.raises(rundir.RunDirError, match="holds a run of experiment 'exp', not 'other'"):
        rundir.prepare(run, "other", Conf(), resume=True)
    with pytest.raises(rundir.RunDirError, match=r"differ from the saved run in \['seed'\]"):
        rundir.prepare(run, "exp", Conf(seed=1), resume=True)
    assert rundir.prepare(run, "exp", Conf(), resume=True) == run


def test_read_run_of_a_plain_folder_is_a_clear_error(tmp_path):
    with pytest.raises(rundir.RunDirError, match="not a run directory"):
        rundir.read_run(tmp_path, "exp")
    with pytest.raises(rundir.RunDirError, match="not a run directory"):
        rundir.prepare(tmp_path / "never", "exp", Conf(), resume=True)


def test_write_atomic_replaces_whole_files(tmp_path):
    rundir.write_atomic(tmp_path / "a.json", "old")
    rundir.write_atomic(tmp_path / "a.json", "new")
    assert (tmp_path / "a.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_metrics_log_rows_and_resume_truncation(tmp_path):
    log = rundir.MetricsLog(tmp_path / "metrics.jsonl")
    for step in (10, 20, 30):
        log.write(step, "train", {"loss": 1.0 / step})
    log.write(20, "val", {"acc": 0.5})
    rows = rundir.read_metrics(tmp_path)
    assert {"step", "split", "name", "value", "time"} == set(rows[0])
    rundir.MetricsLog(tmp_path / "metrics.jsonl", resume_step=20)
    assert [r["step"] for r in rundir.read_metrics(tmp_path)] == [10, 20, 20]


@pytest.mark.slow
def test_metrics_log_writes_tensorboard_events_readable_back(tmp_path):
    import tensorflow as tf  # a dependency already (TFDS); its reader is TensorBoard's format

    log = rundir.MetricsLog(tmp_path / "metrics.jsonl", tensorboard=tmp_path / "tb")
    for step in (10, 20):
        log.write(step, "train", {"loss": 1.0 / step})
    log.write(20, "val", {"accuracy": 0.75})
    log.close()
    (events,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    scalars = [
        (value.tag, event.step, value.simple_value)
        for event in tf.compat.v1.train.summary_iterator(str(events))
        for value in event.summary.value
    ]
    assert scalars == [
        ("train/loss", 10, pytest.approx(0.1)),
        ("train/loss", 20, pytest.approx(0.05)),
        ("val/accuracy", 20, pytest.approx(0.75)),
    ]
    assert len(rundir.read_metrics(tmp_path)) == 3  # metrics.jsonl stays the record


def test_a_run_directory_names_its_experiment(tmp_path):
    with pytest.raises(rundir.RunDirError, match="not a run directory"):
        rundir.experiment_of(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"experiment": "reber", "config": {}}))
    assert rundir.experiment_of(tmp_path) == "reber"
