"""Members trained together: equal to their solo runs, a diverging member masked, resume."""

import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.training import batching, experiment, loading, members, rundir, task, train


@dataclass(frozen=True)
class TrainConfig(task.TrainConfig):
    lr: float = 0.1
    schedule: str = "cosine"
    warmup_steps: int = 5
    steps: int = 30


@dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig()
    seed: int = 0
    poison: int = -1  # a seed whose data hold an Inf (its run diverges)


def make_task(config: Config) -> task.Task:
    """A two-layer regression whose data, like a validation split, come from the seed."""
    rng = np.random.default_rng(config.seed)
    x = rng.normal(size=(48, 3)).astype(np.float32)
    y = np.tanh(x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    if config.seed == config.poison:
        x[5, 0] = np.inf
    data = {"x": x, "y": y}

    def predict(params, x):
        return jnp.tanh(x @ params["w1"]) @ params["w2"]

    def loss_fn(params, batch, key):
        noise = 0.01 * jax.random.normal(key, batch["y"].shape)  # the per-step key matters
        return jnp.mean((predict(params, batch["x"]) - batch["y"] - noise) ** 2), {}

    @jax.jit
    def sums(params, batch):
        err = jnp.mean((predict(params, batch["x"]) - batch["y"]) ** 2, axis=-1)
        return {"mse": jnp.sum(err * batch["weight"]), "count": jnp.sum(batch["weight"])}

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (3, 8)) / 2, "w2": jax.random.normal(k2, (8, 1)) / 3}

    def report(params, run_dir):
        mse = train.evaluate(sums, params, data, 16)["mse"]
        return task.Report({"train_mse": mse}, {"mse": mse}, f"mse {mse:.4f}")

    return task.Task(
        experiment="toy",
        config=config,
        init=init,
        loss_fn=loss_fn,
        train_data=data,
        batch_size=8,
        schedule=task.Schedule(config.train.steps, eval_every=10, log_every=5),
        evaluate=lambda params: train.evaluate(sums, params, data, 16),
        best="mse",
        mode="min",
        report=report,
    )


def group(tmp_path, name, seeds, **kw):
    tasks = [make_task(Config(seed=s, **kw)) for s in seeds]
    folders = [
        experiment.prepare(t, tmp_path / name / f"seed={s}", resume=False)
        for s, t in zip(seeds, tasks)
    ]
    return tasks, folders


def solo(tmp_path, seed, name=None, **kw):
    options = experiment.RunOptions(workdir=str(tmp_path / "solo" / (name or f"seed={seed}")))
    experiment.run(make_task(Config(seed=seed, **kw)), options)
    return loading.load_run(options.workdir, "toy", which="latest")


@pytest.mark.slow
def test_members_equal_their_solo_runs(tmp_path):
    tasks, folders = group(tmp_path, "group", [0, 1, 2])
    results = experiment.run_group(tasks, folders, resume=False)
    for seed, folder, result in zip([0, 1, 2], folders, results):
        alone = solo(tmp_path, seed)
        together = loading.load_run(folder, "toy", which="latest")
        assert together.step == alone.step == 30
        # vmap batches the members' matmuls into one; float32 sums may round differently.
        for a, b in zip(jax.tree.leaves(together.params), jax.tree.leaves(alone.params)):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
        # One loop: a member writes the rows and checkpoints its solo run writes.
        rows, alone_rows = (
            rundir.read_metrics(f) for f in (folder, tmp_path / "solo" / f"seed={seed}")
        )
        assert {(r["step"], r["split"], r["name"]) for r in rows} == {
            (r["step"], r["split"], r["name"]) for r in alone_rows
        }
        assert {r["split"] for r in rows} == {"train", "val", "time", "test"}
        steps = [
            sorted(p.name for p in (Path(f) / "ckpt").iterdir()) for f in (folder, alone.source)
        ]
        assert steps[0] == steps[1]
        assert result == json.loads((folder / "results.json").read_text())
        assert (
            result["best_step"]
            == json.loads((tmp_path / "solo" / f"seed={seed}" / "results.json").read_text())[
                "best_step"
            ]
        )


@pytest.mark.slow
def test_members_with_their_own_optimizer_settings_equal_their_solo_runs(tmp_path):
    # Rate, warm-up and clip norm differ (the small norm clips): one program, each member's
    # own values from its optimizer state.
    settings = [
        TrainConfig(lr=0.03, warmup_steps=2, clip_norm=0.05),
        TrainConfig(lr=0.2, warmup_steps=9, clip_norm=2.0),
    ]
    tasks = [make_task(Config(seed=3, train=t)) for t in settings]
    folders = [experiment.prepare(t, tmp_path / f"m{i}", resume=False) for i, t in enumerate(tasks)]
    experiment.run_group(tasks, folders, resume=False)
    for i, (t, folder) in enumerate(zip(settings, folders)):
        alone = solo(tmp_path, 3, name=f"m{i}", train=t)
        together = loading.load_run(folder, "toy", which="latest")
        for a, b in zip(jax.tree.leaves(together.params), jax.tree.leaves(alone.params)):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


@pytest.mark.slow
def test_a_diverging_member_is_masked_and_the_others_finish(tmp_path):
    tasks, folders = group(tmp_path, "group", [0, 1], poison=1)
    results = experiment.run_group(tasks, folders, resume=False)
    assert results[1] is None
    assert "non-finite" in json.loads((folders[1] / "failed.json").read_text())["error"]
    assert results[0] is not None and not (folders[0] / "failed.json").exists()
    alone = solo(tmp_path, 0, poison=1)
    together = loading.load_run(folders[0], "toy", which="latest")
    for a, b in zip(jax.tree.leaves(together.params), jax.tree.leaves(alone.params)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


@pytest.mark.slow
def test_an_interrupted_group_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    whole_tasks, whole = group(tmp_path, "whole", [0, 1])
    experiment.run_group(whole_tasks, whole, resume=False)
    original, calls = batching.batches, []

    def interrupted(*args, **kw):
        calls.append(1)
        for i, batch in enumerate(original(*args, **kw)):
            if i == 13 and len(calls) == 2:  # the second member's stream, after step 10
                raise KeyboardInterrupt
            yield batch

    tasks, broken = group(tmp_path, "broken", [0, 1])
    monkeypatch.setattr(batching, "batches", interrupted)
    with pytest.raises(KeyboardInterrupt):
        experiment.run_group(tasks, broken, resume=False)
    monkeypatch.setattr(batching, "batches", original)
    assert {loading.load_run(f, "toy", which="latest").step for f in broken} == {10}
    experiment.run_group(tasks, broken, resume=True)
    for a_dir, b_dir in zip(whole, broken):
        a = loading.load_run(a_dir, "toy", which="latest")
        b = loading.load_run(b_dir, "toy", which="latest")
        for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("other", [TrainConfig(steps=20), TrainConfig(clip_norm=0.0)])
def test_members_must_differ_in_their_seed_and_optimizer_values_alone(other):
    tasks = [make_task(Config(seed=0)), make_task(Config(seed=1, train=other))]
    with pytest.raises(ConfigError, match="differ only in their seed, learning rate, warm-up"):
        members.check_group(tasks)


@pytest.mark.slow
def test_members_split_over_two_devices_equal_one_device(tmp_path):
    if len(jax.local_devices()) < 2:
        pytest.skip("needs 2 devices: run with JAX_NUM_CPU_DEVICES=2 (tests/conftest.py sets it)")
    one_tasks, one = group(tmp_path, "one", [0, 1, 2, 3])
    experiment.run_group(one_tasks, one, resume=False)
    two_tasks, two = group(tmp_path, "two", [0, 1, 2, 3])
    experiment.run_group(two_tasks, two, resume=False, devices=2)
    for a_dir, b_dir in zip(one, two):
        a = loading.load_run(a_dir, "toy", which="latest")
        b = loading.load_run(b_dir, "toy", which="latest")
        # A group of four and two shards of two are different programs (other fusions,
        # other rounding), like a group and its solo runs: the same tolerance.
        for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
            np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="3 members do not split evenly over 2 devices"):
        members.member_mesh(2, 3)
