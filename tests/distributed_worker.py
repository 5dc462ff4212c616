"""One process of a multi-process test run (tests/test_distributed.py starts them).

    python tests/distributed_worker.py RUN_DIR OUT_DIR PROCESSES PROCESS_ID PORT [--resume]
        [--stop-at-eval K] [--late S]

Trains a small time-series task through the run shell (rnn_jax.training.experiment.fit)
and saves this process's final parameters to OUT_DIR/params_<id>.npz, so a
test can compare processes and process counts. With ``--stop-at-eval K`` every
process stops at its K-th evaluation, as an interruption would (the checkpoint
of the evaluation before is kept). With ``--late S`` every process but 0 comes to the
run directory ``S`` seconds late, as a slow process would.
"""

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("processes", type=int)
    parser.add_argument("process_id", type=int)
    parser.add_argument("port", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-at-eval", type=int, default=0)
    parser.add_argument("--late", type=float, default=0)
    args = parser.parse_args()

    from rnn_jax.training import distributed, experiment, parallel

    if args.processes > 1:
        distributed.initialize(
            distributed.DistOptions(
                coordinator=f"127.0.0.1:{args.port}",
                num_processes=args.processes,
                process_id=args.process_id,
                timeout=30,
            )
        )
    from experiments import timeseries as ts

    config = ts.Config(
        model=ts.ModelConfig(hidden=(16,)),
        train=ts.TrainConfig(steps=24, batch_size=8, windows=400),
        steps=10,
    )
    task = ts.make_task(config, experiment.RunOptions(str(args.run_dir)))
    if args.stop_at_eval:
        evaluations, validate = [], task.evaluate

        def evaluate(params):
            evaluations.append(1)
            if len(evaluations) == args.stop_at_eval:
                raise KeyboardInterrupt
            return validate(params)

        task = dataclasses.replace(task, evaluate=evaluate)
    if jax.process_index():  # after the processes first meet (JAX's backend starts)
        time.sleep(args.late)
    folder = experiment.prepare(task, args.run_dir, resume=args.resume)
    try:
        done = experiment.fit([task], [folder], resume=args.resume)[0]
    except KeyboardInterrupt:
        return
    params = parallel.local_copy(done.state.params)
    flat = {f"p{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(args.out_dir / f"params_{args.process_id}.npz", **flat)


if __name__ == "__main__":
    main()
