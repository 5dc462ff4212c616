"""Data-parallel training over N processes on this machine, against one process.

    python -m scripts.bench_processes --processes 1 2 4 -- \\
        mnist_classifier --data-dir ../shared/datasets/mnist --train.epochs 1

Starts the experiment (the arguments after ``--``) on N local processes joined by
``jax.distributed`` (127.0.0.1, one CPU device each, gloo), for each N in turn,
and prints the training throughput process 0 logged (steps per second after the
first log point, which holds the compile) and the whole command's wall time. On
one machine the processes share its cores; on real hosts each brings its own.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnn_jax.training import rundir


def launch(processes: int, command: list[str], folder: Path) -> float:
    """Run the experiment command on ``processes`` processes; returns the wall time."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = [sys.executable, "-m", f"experiments.{command[0]}", *command[1:], "--workdir"]
    base.append(str(folder))
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    dist = lambda i: (  # noqa: E731
        ["--dist.coordinator", f"127.0.0.1:{port}", "--dist.num-processes", str(processes),
         "--dist.process-id", str(i)] if processes > 1 else []
    )  # fmt: skip
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(base + dist(i), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(processes)
    ]
    errors = [p.communicate()[1] for p in procs]
    for p, err in zip(procs, errors):
        if p.returncode:
            sys.exit(f"{processes} processes: exit {p.returncode}\n{err.decode()[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :] or [
        "timeseries",
        "--train.steps",
        "600",
        "--train.batch-size",
        "48",
    ]
    rows = []
    for n in args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            wall = launch(n, command, Path(tmp) / "run")
            rates = [
                r["value"]
                for r in rundir.read_metrics(Path(tmp) / "run")
                if r["split"] == "train" and r["name"] == "steps_per_s"
            ][1:]
        rows.append((n, statistics.median(rates), wall))
    print(f"\n{' '.join(command)}: data parallel over N local processes (one device each)")
    print(f"{'processes':>10}{'steps/s':>10}{'vs 1':>8}{'wall s':>9}")
    for n, rate, wall in rows:
        print(f"{n:>10}{rate:>10.1f}{rate / rows[0][1]:>7.2f}x{wall:>9.1f}")


if __name__ == "__main__":
    main()
