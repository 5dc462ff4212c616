"""The run shell: a toy task trained, resumed, split over devices, diverged, and loaded back."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.errors import DivergedError
from rnn_jax.training import batching, ckpt, experiment, loading, rundir, task, train


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    lr: float = 0.1
    schedule: str = "constant"
    clip_norm: float = 0.0
    steps: int = 40


@dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig()
    seed: int = 0


def make_task(config: Config) -> task.Task:
    """y = x @ [1, -2, 0.5]: Adam fits it in a few dozen steps."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    data = {"x": x, "y": x @ np.array([1.0, -2.0, 0.5], np.float32)}

    def loss_fn(params, batch, key):
        return jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2), {}

    sums = jax.jit(
        lambda params, batch: {
            "mse": ((batch["x"] @ params["w"] - batch["y"]) ** 2 * batch["weight"]).sum(),
            "count": batch["weight"].sum(),
        }
    )

    def report(params, run_dir):
        mse = train.evaluate(sums, params, data, 32)["mse"]
        return task.Report({"w": np.asarray(params["w"]).tolist()}, {"mse": mse}, f"mse {mse}")

    return task.Task(
        experiment="toy",
        config=config,
        init=lambda key: {"w": jnp.zeros(3)},
        loss_fn=loss_fn,
        train_data=data,
        batch_size=16,
        schedule=task.Schedule(config.train.steps, eval_every=10, log_every=5),
        evaluate=lambda params: train.evaluate(sums, params, data, 32),
        best="mse",
        mode="min",
        report=report,
    )


def test_run_writes_the_run_directory_and_loads_back(tmp_path, capsys):
    options = experiment.RunOptions(workdir=str(tmp_path / "run"), tensorboard=True)
    results = experiment.run(make_task(Config()), options)
    run = tmp_path / "run"
    assert "mse" in capsys.readouterr().out
    assert results == json.loads((run / "results.json").read_text())
    assert results["val"]["val/mse"] < 0.05
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"] == {"train": rundir.config_to_dict(TrainConfig()), "seed": 0}
    assert saved["best"] == {"metric": "val/mse", "mode": "min"}
    rows = rundir.read_metrics(run)
    assert {r["split"] for r in rows} == {"train", "val", "test", "time"}
    spent = {r["name"]: r["value"] for r in rows if r["split"] == "time"}
    assert set(spent) == {"total_s", "first_call_s", "eval_s", "checkpoint_s"}
    assert spent["total_s"] >= spent["first_call_s"] + spent["eval_s"] + spent["checkpoint_s"]
    assert (run / "figures" / "curves.png").stat().st_size > 1000
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))

    best = loading.load_run(run, "toy")
    latest = loading.load_run(run, "toy", which="latest")
    assert best.step == results["best_step"] and latest.step == 40
    np.testing.assert_allclose(best.params["w"], results["w"], rtol=1e-6)
    assert best.metrics["val/mse"] == results["val"]["val/mse"]
    assert best.typed(Config) == Config()
    with pytest.raises(rundir.RunDirError, match="holds a run of experiment 'toy'"):
        loading.load_run(run, "other")


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    whole = experiment.RunOptions(workdir=str(tmp_path / "whole"))
    experiment.run(make_task(Config()), whole)
    original = batching.batches

    def interrupted(*args, **kw):
        for i, batch in enumerate(original(*args, **kw)):
            if i == 23:  # after the checkpoint at step 20, mid-way to the next
                raise KeyboardInterrupt
            yield batch

    broken = experiment.RunOptions(workdir=str(tmp_path / "broken"))
    monkeypatch.setattr(batching, "batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        experiment.run(make_task(Config()), broken)
    monkeypatch.setattr(batching, "batches", original)
    assert loading.load_run(broken.workdir, "toy", which="latest").step == 20
    with pytest.raises(rundir.RunDirError, match=r"differ from the saved run in \['seed'\]"):
        experiment.run(make_task(Config(seed=1)), broken.__class__(broken.workdir, resume=True))
    experiment.run(make_task(Config()), experiment.RunOptions(broken.workdir, resume=True))
    a = loading.load_run(whole.workdir, "toy", which="latest")
    b = loading.load_run(broken.workdir, "toy", which="latest")
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    rows = lambda d: [(r["step"], r["split"], r["name"]) for r in rundir.read_metrics(d)]  # noqa: E731
    assert rows(broken.workdir) == rows(whole.workdir)


def test_divergence_stops_with_a_clear_error_and_keeps_checkpoints(tmp_path):
    config = Config(train=TrainConfig(lr=1e30))
    options = experiment.RunOptions(workdir=str(tmp_path / "run"))
    with pytest.raises(DivergedError, match="non-finite .* lower the learning rate"):
        experiment.run(make_task(config), options)


def test_two_devices_resume_and_match_one_device(tmp_path):
    if len(jax.local_devices()) < 2:
        pytest.skip("needs 2 devices: run with JAX_NUM_CPU_DEVICES=2 (tests/conftest.py sets it)")
    one = make_task(Config())
    two = make_task(Config(train=TrainConfig(devices=2)))
    a = experiment.fit(
        [one], [experiment.prepare(one, tmp_path / "one", resume=False)], resume=False
    )[0]
    b = experiment.fit(
        [two], [experiment.prepare(two, tmp_path / "two", resume=False)], resume=False
    )[0]
    assert b.best_params["w"].sharding.device_set == {jax.local_devices()[0]}
    np.testing.assert_allclose(b.state.params["w"], a.state.params["w"], rtol=1e-5)
    half = make_task(Config(train=TrainConfig(devices=2, steps=20)))
    # Prepared with the settings of the whole run, so that it resumes as that run.
    experiment.fit([half], [experiment.prepare(two, tmp_path / "half", resume=False)], resume=False)
    resumed = experiment.fit([two], [tmp_path / "half"], resume=True)[0]
    np.testing.assert_allclose(resumed.state.params["w"], b.state.params["w"], rtol=1e-6)
    assert resumed.best_step == b.best_step


def test_params_that_do_not_fit_are_a_clear_error():
    like = {"rnn": [{"wx": jnp.zeros((2, 8))}]}
    with pytest.raises(loading.ParamsMismatchError, match=r"\['rnn'\]\[0\]\['wx'\]"):
        loading.check_params({"rnn": [{"wx": np.zeros((3, 8), np.float32)}]}, like, "x")
    loading.check_params({"rnn": [{"wx": np.zeros((2, 8), np.float32)}]}, like, "x")


@pytest.mark.slow
@pytest.mark.parametrize("die_in_save", [1, 2])
def test_killed_inside_a_checkpoint_write_resumes_to_the_uninterrupted_run(tmp_path, die_in_save):
    """kill -9 (injected) while the first or the second checkpoint is half written: the
    folder left behind is no checkpoint, a fresh run there is refused with the way on,
    and --resume finishes with exactly the parameters of a run never stopped."""
    command = [sys.executable, "-m", "experiments.timeseries", "--train.steps", "250",
               "--model.hidden", "16", "--generate", "10"]  # fmt: skip

    def run(folder, *extra, env=None):
        return subprocess.run(
            [*command, "--workdir", str(folder), *extra],
            capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
        )  # fmt: skip

    broken = tmp_path / "broken"
    killed = run(broken, env={ckpt.DIE_IN_SAVE: str(die_in_save)})
    assert killed.returncode == 137, killed.stderr
    assert any(".orbax-checkpoint-tmp" in p.name for p in (broken / "ckpt").iterdir())
    assert len(rundir.checkpoint_steps(broken)) == die_in_save - 1
    fresh = run(broken)
    assert fresh.returncode == 2 and "--resume" in fresh.stderr.splitlines()[0]
    resumed = run(broken, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not any(".orbax-checkpoint-tmp" in p.name for p in (broken / "ckpt").iterdir())
    assert run(tmp_path / "whole").returncode == 0
    a = loading.load_run(broken, "timeseries", which="latest")
    b = loading.load_run(tmp_path / "whole", "timeseries", which="latest")
    assert a.step == b.step == 250
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)


def _timeseries(folder, *extra, steps=250, env=None, **kw):
    """``python -m experiments.timeseries`` on a small model, in ``folder``."""
    small = ["--model.hidden", "16", "--generate", "10", "--train.steps", str(steps)]
    command = [sys.executable, "-m", "experiments.timeseries", *small, "--workdir", str(folder)]
    command += extra
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kw)  # fmt: skip


def _finish(proc) -> tuple[int, str]:
    """Wait for ``proc``; its exit status and standard error."""
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def _same_final_params(a_dir, b_dir, steps):
    a = loading.load_run(a_dir, "timeseries", which="latest")
    b = loading.load_run(b_dir, "timeseries", which="latest")
    assert a.step == b.step == steps
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes(tmp_path):
    """The third checkpoint write fails with ENOSPC (injected): one error line, exit 3,
    earlier checkpoints intact; --resume once there is space finishes bit-exact."""
    code, err = _finish(_timeseries(tmp_path / "full", env={ckpt.DISK_FULL_IN_SAVE: "3"}))
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 3, err
    assert lines == [f"error: No space left on device: {tmp_path / 'full' / 'ckpt'}; fix the "
                     "folder (or free space) and run again (--resume continues a run that has "
                     "started)"], err  # fmt: skip
    assert rundir.checkpoint_steps(tmp_path / "full") == [50, 100]
    code, err = _finish(_timeseries(tmp_path / "full", "--resume"))
    assert code == 0, err
    assert _finish(_timeseries(tmp_path / "whole"))[0] == 0
    _same_final_params(tmp_path / "full", tmp_path / "whole", 250)


@pytest.mark.slow
def test_killed_at_random_instants_resumes_to_the_uninterrupted_run(tmp_path):
    """kill -9 at five random instants (start-up, compiling, training, inside checkpoint
    writes: wherever they fall), each followed by --resume: the run ends with exactly the
    parameters of a run never stopped. The instants are drawn within the part of an
    uninterrupted run that every resumed run repeats or reaches, so that they land."""
    steps, run = 600, tmp_path / "killed"
    tic = time.perf_counter()
    assert _finish(_timeseries(tmp_path / "whole", steps=steps))[0] == 0
    whole_s = time.perf_counter() - tic
    started, kills = False, 0
    for delay in np.random.default_rng(0).uniform(0.1, 0.6, size=5) * whole_s:
        proc = _timeseries(run, *(["--resume"] if started else []), steps=steps)
        try:
            proc.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            kills += 1
        started = started or (run / "config.json").exists()
        if proc.returncode == 0:
            break
    assert kills >= 3, f"{kills} of 5 instants fell inside a run of {whole_s:.1f} s"
    code, err = _finish(_timeseries(run, *(["--resume"] if started else []), steps=steps))
    assert code == 0, err
    _same_final_params(run, tmp_path / "whole", steps)
