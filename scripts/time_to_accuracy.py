"""Validation accuracy against training wall time, one line per run: which cell learns
fastest under a fixed budget.

    python -m scripts.time_to_accuracy runs/seq_mnist/lstm runs/seq_mnist/lru \\
        --out docs/seq_mnist_time_to_accuracy.png

Reads each run's ``metrics.jsonl`` (the ``val/accuracy`` rows and the seconds of training
at each) and ``config.json`` (the cell, widths, pooling, input layer and budget that name the
line).
"""

import argparse
import json
from pathlib import Path

from rnn_jax import plotting
from rnn_jax.training import rundir


def curve(run_dir: str) -> tuple[list[float], list[float]]:
    """``(minutes of training, validation accuracy)`` at each evaluation of the run."""
    rows = [r for r in rundir.read_metrics(run_dir) if r["split"] == "val"]
    rows = [r for r in rows if r["name"] == "accuracy"]
    return [r["time"] / 60 for r in rows], [r["value"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True, help="the PNG to write")
    args = parser.parse_args()
    series = {}
    for run in args.runs:
        config = json.loads((Path(run) / "config.json").read_text())["config"]
        model = config["model"]
        steps, epochs = config["train"].get("steps"), config["train"].get("epochs")
        budget = f", {steps} steps" if steps else f", {epochs} epoch{'s' * (epochs != 1)}"
        reads = [f"{model['pool']} pool"] if "pool" in model else []  # how the run reads
        reads += [f"input layer {model['input_proj']}"] if model.get("input_proj") else []
        name = (
            f"{model['cell']} {'x'.join(map(str, model['hidden']))}"
            + "".join(f", {part}" for part in reads)
            + (budget if steps or epochs else "")
        )
        name = name if name not in series else f"{name} ({run})"  # two runs alike: both kept
        series[name] = curve(run)
        print(f"{name:<24} " + "  ".join(f"{t:.1f} min {a:.4f}" for t, a in zip(*series[name])))
    plotting.plot_series(
        series, args.out, xlabel="minutes of training", ylabel="validation accuracy",
        title="Accuracy against wall time",
    )  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
