"""The training run every experiment shares: run directory, state, fit, checkpoints, resume."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import optax
from tqdm.auto import tqdm

from rnn_jax import rundir, train
from rnn_jax.ckpt import CheckpointError, Checkpoints
from rnn_jax.typing import Params


@dataclass
class Run:
    """A finished (or resumed-and-finished) training run."""

    dir: Path
    state: train.TrainState
    best_step: int
    best_params: Params
    best_metrics: dict[str, float]  # the evaluation that made it best, {"split/name": value}


def train_run(
    *,
    experiment: str,
    run_dir: str | Path,
    resume: bool,
    init_params: Callable[[], Params],
    loss_fn: train.LossFn,
    tx: optax.GradientTransformation,
    train_arrays: Mapping[str, np.ndarray],
    batch_size: int,
    total_steps: int,
    seed: int,
    evaluate: Callable[[Params], dict[str, dict[str, float]]],
    eval_every: int,
    best_metric: str,
    best_mode: str = "max",
    steps_per_call: int = 1,
    log_every: int = 100,
    echo: str | None = None,
    devices: int = 1,
) -> Run:
    """Train (or resume) a run in a prepared run directory (:func:`rundir.prepare`).

    Checkpoints are written at every evaluation; the best one by
    ``best_metric`` (``"split/name"``) is kept besides the latest two. Resume
    restores the latest checkpoint and replays the data stream from its step,
    so the run ends with the parameters an uninterrupted run would have.
    With ``echo`` (a name for the loss, e.g. ``"MSE"``) every training log point is
    also printed as a line, like the classic training logs. With ``devices > 1``
    each batch is split over that many devices (:func:`train.data_parallel_mesh`);
    evaluation and the returned parameters stay on one device.
    """
    run_dir = Path(run_dir)
    mesh = train.data_parallel_mesh(devices) if devices > 1 else None
    ckpts = Checkpoints(run_dir / "ckpt", best_metric=best_metric, best_mode=best_mode)
    state = train.init_state(init_params(), tx, seed)
    start = 0
    if resume:
        start = ckpts.latest_step()
        state, _ = ckpts.restore(start, state)
        print(f"resumed {run_dir} from step {start}")
    log = rundir.MetricsLog(run_dir / "metrics.jsonl", resume_step=start if resume else None)
    step_fn = train.make_train_step(loss_fn, tx, steps_per_call=steps_per_call, mesh=mesh)
    if mesh is not None:
        state = train.replicate(state, mesh)
        print(f"data parallel: batches of {batch_size} split over {devices} devices")

    def one_device(params: Params) -> Params:
        return params if mesh is None else jax.device_put(params, jax.local_devices()[0])

    data = train.batches(
        train_arrays, batch_size, seed=seed, start_step=start, steps_per_call=steps_per_call
    )

    def on_log(step: int, split: str, values: dict[str, float]) -> None:
        log.write(step, split, values)
        if echo and split == "train":
            tqdm.write(f"{step}\t{echo}: {values['loss']:.6g}")

    def on_eval(state: train.TrainState, results: dict[str, dict[str, float]]) -> None:
        flat = {f"{split}/{k}": v for split, m in results.items() for k, v in m.items()}
        step = int(state.step)
        ckpts.save(step, state, {"step": step, "metrics": flat}, metrics=flat)

    try:
        state = train.fit(
            state,
            step_fn,
            data,
            total_steps=total_steps,
            steps_per_call=steps_per_call,
            log_every=log_every,
            evaluation=train.Evaluation(lambda s: evaluate(one_device(s.params)), eval_every),
            on_log=on_log,
            on_eval=on_eval,
            desc=experiment,
        )
    except KeyboardInterrupt:
        ckpts.close()
        print(f"\ninterrupted; continue with --resume (run directory {run_dir})")
        raise
    best = ckpts.best_step()
    best_state, meta = ckpts.restore(best, state)
    ckpts.close()
    return Run(run_dir, state, best, one_device(best_state.params), meta.get("metrics", {}))


def load_state(
    run_dir: str | Path,
    state_like: train.TrainState,
    *,
    best_metric: str,
    best_mode: str = "max",
    which: str = "best",
) -> tuple[train.TrainState, int]:
    """A run's ``best`` or ``latest`` train state, in the structure of ``state_like``
    (which may be abstract: ``jax.eval_shape`` of the state's init).

    Raises:
      CheckpointError: if the run has no checkpoint or it cannot be read.
    """
    ckpts = Checkpoints(Path(run_dir) / "ckpt", best_metric=best_metric, best_mode=best_mode)
    try:
        if not ckpts.steps():
            raise CheckpointError(f"{run_dir} has no checkpoint; train it first")
        step = ckpts.best_step() if which == "best" else ckpts.latest_step()
        state, _ = ckpts.restore(step, state_like)
    finally:
        ckpts.close()
    return state, step
