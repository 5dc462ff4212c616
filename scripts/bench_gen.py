"""The main job's training step and its completions, per kind of row, timed in one process.

    python -m scripts.bench_gen --data-dir ../shared/datasets/mnist
    python -m scripts.bench_gen --synthetic 2000 --images 1000          # no data needed

Builds ``mnist_gen``'s default task for each output (regression trained by the ``rollout``
objective, the default; by ``next_row``; Bernoulli rows trained by their likelihood), then
times the jitted train step alone (batches already on the device, compile apart, the
kinds' repeats taken in turn, medians) and the completion of ``--images`` test top halves
(the mean completion; for Bernoulli rows also sampled). Prints steps/s and images/s with
their ratio to the default.
"""

import argparse
import dataclasses
import statistics
import time

import jax

from experiments import mnist_gen as mg
from rnn_jax.training import batching, train

KINDS = {
    "rollout (default)": {},
    "next_row": {"train": {"objective": "next_row"}},
    "bernoulli": {"model": {"output": "bernoulli"}},
}


def configure(base: mg.Config, change: dict) -> mg.Config:
    sections = {k: dataclasses.replace(getattr(base, k), **v) for k, v in change.items()}
    return dataclasses.replace(base, **sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=10_000, help="top halves completed")
    args = parser.parse_args()

    base = mg.Config(synthetic=args.synthetic)
    options = mg.Options(data_dir=args.data_dir)
    runs = {}
    for name, change in KINDS.items():
        config = configure(base, change)
        task = mg.make_task(config, options)
        tx = config.train.optimizer(task.steps)
        step = train.make_train_step(task.loss_fn, tx)
        state = train.init_state(task.init(jax.random.PRNGKey(0)), tx, 0)
        stream = batching.batches(task.train_data, task.batch_size, seed=0)
        batches = [jax.device_put(next(stream)) for _ in range(args.steps)]
        t0 = time.perf_counter()
        state, metrics = step(state, batches[0])
        jax.block_until_ready(metrics)
        runs[name] = {"step": step, "state": state, "batches": batches, "times": [],
                      "compile": time.perf_counter() - t0, "config": config}  # fmt: skip
    for _ in range(args.repeats):
        for run in runs.values():
            state = run["state"]
            t0 = time.perf_counter()
            for batch in run["batches"]:
                state, metrics = run["step"](state, batch)
            jax.block_until_ready((state, metrics))
            run["times"].append((time.perf_counter() - t0) / args.steps)
            run["state"] = state

    data = base.digits(args.data_dir, base.train.val_size)
    images = data["test"]["image"][: args.images]
    print(f"\n{'rows':<20}{'compile s':>10}{'steps/s':>10}{'x default':>10}"
          f"{'complete img/s':>16}{'sampled img/s':>15}")  # fmt: skip
    default = None
    for name, run in runs.items():
        completer = mg.build_completer(run["config"])
        params = run["state"].params
        speeds = []
        for how in ("mean", "sample") if completer.made is not None else ("mean",):
            key = jax.random.PRNGKey(0) if how == "sample" else None
            complete = mg.make_fns(completer)[1]
            complete(params, images[:1000], key, how)  # compile
            t0 = time.perf_counter()
            complete(params, images, key, how)
            speeds.append(len(images) / (time.perf_counter() - t0))
        per_step = statistics.median(run["times"])
        default = default or per_step
        sampled = f"{speeds[1]:15.0f}" if len(speeds) > 1 else f"{'-':>15}"
        print(f"{name:<20}{run['compile']:10.2f}{1 / per_step:10.2f}{default / per_step:10.2f}"
              f"{speeds[0]:16.0f}{sampled}")  # fmt: skip
    print(f"(batch {base.train.batch_size}; {args.repeats} repeats of {args.steps} steps each)")


if __name__ == "__main__":
    main()
