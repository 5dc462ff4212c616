"""The run shell's overhead: a whole training phase against the sum of its step times.

    python -m scripts.bench_fit --data-dir ../shared/datasets/mnist            # mnist_gen
    python -m scripts.bench_fit --experiment mnist_classifier --steps 1000

Builds the experiment's default task, then, in one process:

1. ``steps``: the jitted train step alone, called back to back on batches that
   are already on the device (no logging, evaluation or checkpoints), after a
   warm-up call that compiles it; its mean time times the number of steps is the
   "sum of the step times";
2. ``phase``: the same number of steps through the run shell
   (:func:`rnn_jax.training.experiment.fit`: batching, progress bar, logging, validation
   and checkpoints at the task's points), compile included, in a fresh run
   directory.

It prints both and their ratio (``phase / steps``); the goal is at most 1.15.
"""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import jax

import experiments
from rnn_jax.training import batching, experiment, rundir, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="mnist_gen")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--steps", type=int, default=None, help="default: the task's")
    parser.add_argument("--bare-steps", type=int, default=300, help="steps timed alone")
    args = parser.parse_args()

    definition = experiments.find(args.experiment)
    takes_data = "data_dir" in definition.options.__dataclass_fields__
    extra = {"data_dir": args.data_dir} if takes_data else {}
    task = definition.make_task(definition.config(), definition.options(**extra))
    if args.steps:
        task = dataclasses.replace(task, schedule=task.schedule._replace(steps=args.steps))
    cfg = task.config
    tx = cfg.train.optimizer(task.steps)

    # 1. The step alone: batches prepared and on the device before the clock starts.
    step = train.make_train_step(task.loss_fn, tx)
    state = train.init_state(task.init(jax.random.PRNGKey(cfg.seed)), tx, cfg.seed)
    stream = batching.batches(task.train_data, task.batch_size, seed=cfg.seed)
    ready = [jax.device_put(next(stream)) for _ in range(args.bare_steps + 1)]
    state, metrics = step(state, ready[0])
    jax.block_until_ready(metrics)
    t0 = time.perf_counter()
    for batch in ready[1:]:
        state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))
    per_step = (time.perf_counter() - t0) / args.bare_steps
    del state, ready

    # 2. The whole training phase through the shell.
    with tempfile.TemporaryDirectory() as tmp:
        folder = rundir.prepare(Path(tmp) / "run", task.experiment, cfg, resume=False)
        t0 = time.perf_counter()
        experiment.fit([task], [folder], resume=False)
        phase = time.perf_counter() - t0

    steps_sum = per_step * task.steps
    print(f"\n{task.experiment}: {task.steps} steps of batch {task.batch_size}")
    print(f"  step alone       {1 / per_step:8.2f} steps/s   sum of step times {steps_sum:8.1f} s")
    print(
        f"  training phase   {task.steps / phase:8.2f} steps/s   wall time         {phase:8.1f} s"
    )
    print(f"  phase / steps    {phase / steps_sum:8.3f}")


if __name__ == "__main__":
    main()
