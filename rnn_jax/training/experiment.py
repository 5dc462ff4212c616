"""The run shell every experiment shares.

:func:`run` trains a :class:`rnn_jax.training.task.Task` in its run directory and
reports it; :func:`fit` trains one task or a group of them through the one training
loop (:func:`rnn_jax.training.train.fit`). Trained runs load back through
:mod:`rnn_jax.training.loading`.
"""

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jax
import jax.numpy as jnp
import tyro
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from rnn_jax import plotting
from rnn_jax.errors import ConfigError, DivergedError
from rnn_jax.training import batching, distributed, members, parallel, rundir, train
from rnn_jax.training.ckpt import Checkpoints
from rnn_jax.training.task import Task
from rnn_jax.typing import Params


@dataclass(frozen=True)
class RunOptions:
    """How to run, apart from what determines the result (never saved in config.json)."""

    workdir: Annotated[
        str | None,
        tyro.conf.arg(metavar="DIR", help_behavior_hint="(default: runs/<experiment>/default)"),
    ] = None
    """Run directory: config, metrics, checkpoints, figures, results."""
    resume: bool = False
    """Continue the run in --workdir from its latest checkpoint."""
    tensorboard: bool = False
    """Also write the metrics as TensorBoard event files (<workdir>/tensorboard)."""
    dist: distributed.DistOptions = distributed.DistOptions()
    """One run over several processes or hosts (every process runs the same command)."""


@dataclass(frozen=True)
class MnistOptions(RunOptions):
    """:class:`RunOptions` of an experiment on MNIST digits."""

    data_dir: str | None = None
    """Folder with the four MNIST files, for offline use (else $RNN_JAX_MNIST_DIR, else
    download)."""


@dataclass(frozen=True)
class ReportOptions(MnistOptions):
    """:class:`MnistOptions` of an experiment that can also report a trained run."""

    from_run: Annotated[str | None, tyro.conf.arg(name="from")] = None
    """With --generate: a trained run directory of this experiment to report instead of
    training."""
    generate: bool = False
    """Only report (generate on the test set) with the run given by --from."""


@dataclass(frozen=True)
class Trained:
    """A finished (or resumed-and-finished) training run."""

    dir: Path
    state: train.TrainState
    best_step: int
    best_params: Params
    best_metrics: dict[str, float]  # the evaluation that made it best, {"split/name": value}


def run_dir(experiment: str, options: RunOptions) -> Path:
    return Path(options.workdir or f"runs/{experiment}/default")


def prepare(task: Task, folder: str | Path, *, resume: bool) -> Path:
    """:func:`rundir.prepare` for ``task``: its settings, best metric and model saved.

    In a multi-process run every process checks the folder before process 0 writes into
    it: a process that looked after the write would take the fresh run for an old one.
    """
    if distributed.spans_processes():
        rundir.prepare(folder, task.experiment, task.config, resume=resume, write=False)
        distributed.barrier("rnn_jax: run directory checked")
    return rundir.prepare(
        folder,
        task.experiment,
        task.config,
        resume=resume,
        best={"metric": task.best_metric, "mode": task.mode},
        write=distributed.is_writer(),
    )


def run(task: Task, options: RunOptions) -> dict:
    """Train ``task`` (or resume it) and report its best checkpoint; returns the results
    (in a multi-process run, process 0 reports; the others return ``{}``)."""
    folder = prepare(task, run_dir(task.experiment, options), resume=options.resume)
    done = fit([task], [folder], resume=options.resume, tensorboard=options.tensorboard)[0]
    if not distributed.is_writer():
        return {}
    return report(task, folder, done.best_params, done.best_step, done.best_metrics)


def report_folder(from_run: str | Path, workdir: str | None) -> Path:
    """Where a report of the trained run ``from_run`` goes: ``workdir`` if given, else a new
    ``from_run/reports/<time>/``; never a folder that already holds results.

    Raises:
      RunDirError: ``workdir`` holds a ``results.json`` (the run itself, or an earlier report).
    """
    folder = (
        Path(workdir) if workdir else Path(from_run) / "reports" / time.strftime("%Y%m%d-%H%M%S")
    )
    if (folder / "results.json").is_file():
        raise rundir.RunDirError(
            f"{folder} already holds results; pass another --workdir (or none: the report then "
            f"goes into a new folder under {Path(from_run) / 'reports'})"
        )
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    return folder


def fit(
    tasks: list[Task],
    folders: list[Path],
    *,
    resume: bool,
    tensorboard: bool = False,
    devices: int = 1,
) -> list[Trained | None]:
    """Train (or resume) ``tasks`` in their prepared run directories (:func:`prepare`): one
    task is a solo run, several are the members of a group (:mod:`.members`), all through
    :func:`rnn_jax.training.train.fit`. Returns each member's :class:`Trained`, or ``None``
    for a member that failed (``failed.json``; a solo run raises instead).

    Checkpoints are written at every evaluation; the best one by the task's metric is
    kept besides the latest two. Resume restores the latest checkpoint and replays the
    data stream from its step, so the run ends with the parameters an uninterrupted run
    would have. A solo run with ``devices > 1`` in its config, or over several processes
    (:mod:`rnn_jax.training.distributed`), splits each batch over the devices
    (evaluation and the returned parameters stay on one device, process 0 alone writes);
    a group splits its members over ``devices`` devices.
    """
    task, count = tasks[0], len(tasks)
    cfg = task.config
    if count > 1:
        members.check_group(tasks)
        mesh = members.member_mesh(devices, count) if devices > 1 else None
    else:
        several = cfg.train.devices > 1 or distributed.spans_processes()
        mesh = parallel.data_parallel_mesh(cfg.train.devices) if several else None
        if mesh is not None:
            parallel.check_batch(task.batch_size, mesh)
    writer = distributed.is_writer()
    ckpts = [
        Checkpoints(f / "ckpt", best_metric=t.best_metric, best_mode=t.mode)
        for t, f in zip(tasks, folders)
    ]
    logs: list[rundir.MetricsLog] = []
    try:
        # Each member's own optimizer state holds its own peak learning rate (optim.py).
        states = [
            train.init_state(
                t.init(jax.random.PRNGKey(t.config.seed)),
                t.config.train.optimizer(t.steps),
                t.config.seed,
            )
            for t in tasks
        ]
        start = _resume_step(ckpts, resume)
        if start:
            states = [c.restore(start, s)[0] for c, s in zip(ckpts, states)]
        if resume and writer:
            for f in folders:
                print(f"resumed {f} from step {start}" + ("" if start else " (no checkpoint yet)"))
        logs = [
            rundir.MetricsLog(
                f / "metrics.jsonl",
                resume_step=start if resume else None,
                tensorboard=f / "tensorboard" if tensorboard else None,
                enabled=writer,
            )
            for f in folders
        ]
        streams = [
            batching.batches(
                t.train_data,
                t.batch_size,
                seed=t.config.seed,
                start_step=start,
                steps_per_call=t.steps_per_call,
            )
            for t in tasks
        ]
        if count > 1:
            state = (members.stack(states), jnp.ones(count, bool))
            if mesh is not None:
                state = jax.device_put(state, NamedSharding(mesh, P(members.MEMBER_AXIS)))
            step_fn = members.make_group_step(task, mesh)
            data = (batching.stack([next(s) for s in streams]) for _ in iter(int, 1))

            def evaluate(state) -> list[dict[str, dict[str, float]]]:
                return [{"val": v} for v in members.evaluate(tasks, state[0].params)]

            def saved_states(state) -> list:
                host = jax.device_get(state[0])  # one transfer; members are sliced on the host
                return [members.unstack(host, m) for m in range(count)]

        else:
            state, data = states[0], streams[0]
            step_fn = train.make_train_step(
                task.loss_fn,
                cfg.train.optimizer(task.steps),
                steps_per_call=task.steps_per_call,
                mesh=mesh,
            )
            if mesh is not None:
                state = parallel.replicate(state, mesh)
                if writer:
                    processes = jax.process_count()
                    print(
                        f"data parallel: batches of {task.batch_size} split over "
                        f"{mesh.size} devices"
                        + (f" in {processes} processes" if processes > 1 else "")
                    )
                # Every process draws the same global batch and feeds its rows.
                axis = 0 if task.steps_per_call == 1 else 1
                data = (parallel.feed(batch, mesh, axis) for batch in data)

            def one_device(params: Params) -> Params:
                return params if mesh is None else parallel.local_copy(params)

            def evaluate(state) -> list[dict[str, dict[str, float]]]:
                return [{"val": task.evaluate(one_device(state.params))}]

            def saved_states(state) -> list:
                return [state]

        failed: dict[int, str] = {}

        def on_log(m: int, step: int, split: str, values: dict[str, float]) -> None:
            logs[m].write(step, split, values)
            if not writer or m:
                return
            if task.echo and split == "train":
                tqdm.write(f"{step}\t{task.echo}: {values['loss']:.6g}")
            if split == "time":
                tqdm.write(
                    f"trained to step {step} in {values['total_s']:.1f} s: first call (compiling) "
                    f"{values['first_call_s']:.1f} s, evaluation {values['eval_s']:.1f} s, "
                    f"checkpoints {values['checkpoint_s']:.1f} s"
                )

        def on_eval(state, results: list[dict[str, dict[str, float]]]) -> None:
            for m, (ckpt, saved) in enumerate(zip(ckpts, saved_states(state))):
                if m in failed:
                    continue
                flat = {f"{split}/{k}": v for split, r in results[m].items() for k, v in r.items()}
                step = int(saved.step)
                ckpt.save(step, saved, {"step": step, "metrics": flat}, metrics=flat)

        def on_fail(m: int, why: str) -> None:
            failed[m] = why
            if count > 1:
                (folders[m] / "failed.json").write_text(json.dumps({"error": why}) + "\n")
                print(f"{folders[m].name}: failed ({why}); the others go on", file=sys.stderr)

        state = train.fit(
            state,
            step_fn,
            data,
            start=start,
            total_steps=task.steps,
            members=count,
            steps_per_call=task.steps_per_call,
            log_every=task.log_every,
            evaluation=train.Evaluation(evaluate, task.eval_every),
            on_log=on_log,
            on_eval=on_eval,
            on_fail=on_fail,
            desc=task.experiment if count == 1 else f"{task.experiment} x{count}",
            progress=writer,
        )
        done = []
        for m, (ckpt, last) in enumerate(zip(ckpts, saved_states(state))):
            if m in failed:
                done.append(None)
                continue
            best = ckpt.best_step()
            target = state if count == 1 else members.unstack(state[0], m)
            best_state, meta = ckpt.restore(best, target)
            params = best_state.params if count > 1 else one_device(best_state.params)
            done.append(Trained(folders[m], last, best, params, meta.get("metrics", {})))
        return done
    except DivergedError:
        if count == 1:
            raise
        return [None] * count  # every member failed; each has its failed.json
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with --resume (run directory {folders[0]})")
        raise
    except Exception as err:
        if distributed.is_peer_lost(err):
            distributed.stop_after_lost_peer(err, folders[0])
        raise
    finally:
        for ckpt in ckpts:
            ckpt.close()
        for log in logs:
            log.close()


def _resume_step(ckpts: list[Checkpoints], resume: bool) -> int:
    """The step every member resumes from: 0 without ``resume`` or a checkpoint.

    Raises:
      ConfigError: members whose latest checkpoints differ (they cannot run as one).
    """
    if not resume:
        return 0
    steps = {c.latest_step() for c in ckpts}
    if len(steps) != 1:
        raise ConfigError(
            f"the members' latest checkpoints are at different steps {sorted(steps)}; "
            "resume them one by one (python -m experiments.NAME --workdir RUN --resume)"
        )
    return steps.pop() or 0  # None: stopped before the first checkpoint


def run_group(
    tasks: list[Task], folders: list[Path], *, resume: bool, devices: int = 1
) -> list[dict | None]:
    """Train the members of a group together (:func:`fit`) and report every one that
    finished; returns their results (``None`` for a member that failed)."""
    done = fit(tasks, folders, resume=resume, devices=devices)
    return [
        None if d is None else report(t, d.dir, d.best_params, d.best_step, d.best_metrics)
        for t, d in zip(tasks, done)
    ]


def report(task: Task, folder: Path, params: Params, step: int, val: dict[str, float]) -> dict:
    """Curves, the task's test report, ``results.json`` and the test row; prints the summary.

    ``folder`` may also be a fresh one for a model that was not trained there (a
    pretrained one): then there are no curves to draw.
    """
    if (folder / "metrics.jsonl").is_file():
        rows = rundir.read_metrics(folder)
        plotting.plot_curves(rows, list(task.curves), folder / "figures" / "curves.png")
    out = task.report(params, folder)
    results = {"best_step": step, "val": val, **out.results}
    rundir.write_atomic(folder / "results.json", json.dumps(results, indent=2) + "\n")
    rundir.MetricsLog(folder / "metrics.jsonl").write(step, "test", out.test)
    print(out.summary)
    return results
