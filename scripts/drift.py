"""How far runs that should agree drift apart: a sweep group's member against its solo run.

    python -m scripts.drift                       # timeseries, steps 1, 10, 100, 1500
    python -m scripts.drift --steps 1 10 --hidden 16

Trains the timeseries demo (constant learning rate, so a shorter run is a prefix
of a longer one) for each step count twice, alone and as member 0 of a two-seed
group (:mod:`rnn_jax.training.members`, one vmapped program), in this process, and prints
the largest parameter difference and the test MSE of each. A group's vmapped
matmuls sum in another order than a solo run's, so they agree to float32
rounding after a step and drift apart as training amplifies the differences.
"""

import argparse
import dataclasses
import tempfile
from pathlib import Path

import jax
import numpy as np

from experiments import timeseries as ts
from rnn_jax.training import experiment, loading


def config(steps: int, seed: int, hidden: int) -> ts.Config:
    base = ts.Config()
    return dataclasses.replace(
        base,
        seed=seed,
        train=dataclasses.replace(base.train, steps=steps),
        model=dataclasses.replace(base.model, hidden=(hidden,)),
    )


def compare(steps: int, hidden: int, root: Path) -> tuple[float, float, float]:
    """``(max |param difference|, solo test MSE, member test MSE)`` after ``steps``."""
    solo_dir = root / f"solo-{steps}"
    options = experiment.RunOptions(workdir=str(solo_dir))
    solo = ts.EXPERIMENT.train_and_evaluate(config(steps, 0, hidden), options)
    tasks = [ts.make_task(config(steps, s, hidden), options) for s in (0, 1)]
    folders = [
        experiment.prepare(t, root / f"group-{steps}" / f"seed={s}", resume=False)
        for s, t in zip((0, 1), tasks)
    ]
    together = experiment.run_group(tasks, folders, resume=False)[0]
    a = loading.load_run(solo_dir, "timeseries", which="latest").params
    b = loading.load_run(folders[0], "timeseries", which="latest").params
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    return diff, solo["test_window_mse"], together["test_window_mse"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 100, 1500])
    parser.add_argument("--hidden", type=int, default=100)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in args.steps:
            rows.append((steps, *compare(steps, args.hidden, Path(tmp))))
    print("\nsteps | max |param difference| | test MSE solo | test MSE member | relative")
    for steps, diff, alone, member in rows:
        print(f"{steps} | {diff:.3g} | {alone:.4f} | {member:.4f} | {abs(member / alone - 1):.2%}")


if __name__ == "__main__":
    main()
