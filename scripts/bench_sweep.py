"""Seeds of one experiment trained together (vmapped) against the same runs one by one.

    python -m scripts.bench_sweep timeseries --members 1 2 4 8 16
    python -m scripts.bench_sweep mnist_classifier --data-dir DIR --members 8 --steps 400

For each member count N, in one process: the N runs one after another, each
through the run shell with its own compile (what N separate commands would do,
without the interpreter start-up), then the N runs as one group
(:func:`rnn_jax.training.experiment.run_group`). Both write full run directories into a
temporary folder. Prints wall times and their ratio (sequential / together).
"""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import experiments
from rnn_jax.training import experiment, parallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=None, help="default: the experiment's")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--devices", type=int, default=1, help="split the members over N")
    args = parser.parse_args()
    parallel.split_cpu(args.devices)
    definition = experiments.find(args.experiment)
    extra = {"data_dir": args.data_dir} if args.data_dir else {}

    def make(seed: int, folder: Path):
        task = definition.make_task(
            dataclasses.replace(definition.config(), seed=seed),
            definition.options(str(folder), **extra),
        )
        return (
            dataclasses.replace(task, schedule=task.schedule._replace(steps=args.steps))
            if args.steps
            else task
        )

    rows = []
    for n in args.members:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            for seed in range(n):
                folder = Path(tmp) / f"solo{seed}"
                task = make(seed, folder)
                experiment.run(task, definition.options(str(folder), **extra))
            sequential = time.perf_counter() - t0
            t0 = time.perf_counter()
            folders = [Path(tmp) / f"member{seed}" for seed in range(n)]
            tasks = [make(seed, f) for seed, f in zip(range(n), folders)]
            for task, folder in zip(tasks, folders):
                experiment.prepare(task, folder, resume=False)
            experiment.run_group(tasks, folders, resume=False, devices=args.devices)
            together = time.perf_counter() - t0
        rows.append((n, tasks[0].steps, sequential, together))
    where = f"together on {args.devices} devices" if args.devices > 1 else "together"
    print(f"\n{args.experiment}: N seeds, one by one vs {where} (wall s, whole runs)")
    print(f"{'members':>8}{'steps':>8}{'one by one':>12}{'together':>10}{'speed-up':>10}")
    for n, steps, seq, tog in rows:
        print(f"{n:>8}{steps:>8}{seq:>12.1f}{tog:>10.1f}{seq / tog:>9.2f}x")


if __name__ == "__main__":
    main()
