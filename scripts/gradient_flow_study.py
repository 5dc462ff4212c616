"""The gradient-flow study: every cell on the adding problem at several lengths, and the
exploding tanh RNN with and without gradient clipping; one figure and one table.

    python -m scripts.gradient_flow_study                       # docs/gradient_flow.png
    python -m scripts.gradient_flow_study --cells rnn,lstm --lengths 50,100 --steps 200 \
        --name small --out small.png

Both grids are sweeps of ``experiments.gradient_flow`` (:mod:`scripts.sweep`), so a re-run
skips finished runs and resumes interrupted ones. Every run clips its gradients (``--clip``)
but one: the exploding tanh RNN is also run without. The figure: ``||dL/dh_t||`` against the
distance to the loss at the longest length, at initialisation and after training; the
training loss and gradient norm of a tanh RNN whose recurrent weights start at
``--explode-scale`` times orthogonal, clipped and not; and the share of test sequences
solved against length, per cell.
"""

import argparse
import json
import sys
from pathlib import Path

from rnn_jax import plotting
from rnn_jax.errors import UserError
from rnn_jax.training import rundir
from scripts import sweep as sweep_script


def members(folder: Path) -> list[tuple[dict, dict, Path]]:
    """``(config, results, run_dir)`` of every finished run in a sweep folder."""
    found = []
    for results in sorted(folder.glob("*/results.json")):
        config = json.loads((results.parent / "config.json").read_text())["config"]
        found.append((config, json.loads(results.read_text()), results.parent))
    return found


def failed(folder: Path) -> list[tuple[dict, Path]]:
    """``(config, run_dir)`` of every run in a sweep folder that stopped on a NaN."""
    found = []
    for marker in sorted(folder.glob("*/failed.json")):
        config = json.loads((marker.parent / "config.json").read_text())["config"]
        found.append((config, marker.parent))
    return found


def train_series(run_dir: Path, name: str) -> tuple[list[int], list[float]]:
    """A training metric against step, from a run's ``metrics.jsonl``."""
    rows = [r for r in rundir.read_metrics(run_dir) if r["split"] == "train" and r["name"] == name]
    return [r["step"] for r in rows], [r["value"] for r in rows]


def table_entry(results: dict | None) -> str:
    """A run's share solved and its ``||dL/dh||`` at the longest distance after training."""
    if results is None:
        return "-"
    return f"{results['test_accuracy']:.3f} {results['gradient_norm']['trained'][-1]:9.1e}"


def sweep(args: argparse.Namespace, name: str, axes: list[str]) -> Path:
    """Run (or finish) one sweep of the study; a member that failed (NaN) is a result too."""
    argv = ["gradient_flow", "--name", name, "--root", args.root]
    argv += [f"--set={axis}" for axis in [*axes, f"train.steps={args.steps}"]]
    try:
        sweep_script.main(argv)
    except SystemExit as stop:
        if stop.code == 2:
            raise
    return Path(args.root) / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="rnn,irnn,lstm,gru,mingru,lru")
    parser.add_argument("--lengths", default="100,300,1000")
    parser.add_argument("--steps", type=int, default=1500, help="training steps of each run")
    parser.add_argument("--explode-scale", type=float, default=2.0)
    parser.add_argument("--explode-length", type=int, default=300)
    parser.add_argument(
        "--clip",
        type=float,
        default=1.0,
        help="gradient clipping (global norm) of every run but the unclipped exploding one "
        "(1.0 is every experiment's default)",
    )
    parser.add_argument("--root", default="runs/sweeps")
    parser.add_argument(
        "--name", default="gradient_flow", help="the sweeps' folders: NAME and NAME_clipping"
    )
    parser.add_argument("--out", default="docs/gradient_flow.png")
    args = parser.parse_args()
    try:
        lengths = sorted(int(n) for n in args.lengths.split(","))
    except ValueError:
        parser.error(f"--lengths takes whole numbers separated by commas, got {args.lengths!r}")
    cells = args.cells.split(",")
    main_folder = sweep(
        args,
        args.name,
        [f"model.cell={args.cells}", f"length={args.lengths}", f"train.clip_norm={args.clip}"],
    )
    clip_folder = sweep(
        args,
        f"{args.name}_clipping",
        [
            "model.cell=rnn",
            f"model.recurrent_scale={args.explode_scale}",
            f"length={args.explode_length}",
            f"train.clip_norm=0,{args.clip}",
        ],
    )
    runs = members(main_folder)
    if not runs:
        raise UserError(f"no finished runs in {main_folder}")
    longest = {c["model"]["cell"]: r for c, r, _ in runs if c["length"] == lengths[-1]}
    norms = {
        when: {
            cell: (longest[cell]["gradient_norm"]["distance"], longest[cell]["gradient_norm"][when])
            for cell in cells
            if cell in longest
        }
        for when in ("init", "trained")
    }
    exploding = [r for c, r, _ in members(clip_folder) if not c["train"]["clip_norm"]]
    if exploding:  # the exploding RNN's gradients at initialisation beside the others
        name = f"rnn, W_h x {args.explode_scale} (length {args.explode_length})"
        norms["init"][name] = tuple(exploding[0]["gradient_norm"][k] for k in ("distance", "init"))
    solved = {}  # per cell, its finished lengths (a run that diverged has no test figure)
    for cell in cells:
        done = sorted(
            (c["length"], r["test_accuracy"]) for c, r, _ in runs if c["model"]["cell"] == cell
        )
        if done:
            solved[cell] = tuple(map(list, zip(*done)))
    clipped = {
        (f"clip {c['train']['clip_norm']}" if c["train"]["clip_norm"] else "no clipping"): d
        for c, _, d in members(clip_folder)
    }
    dist_label = "distance to the loss T - t (steps)"
    panels = [
        {"series": norms["init"], "xlabel": dist_label, "ylabel": "mean ||dL/dh_t||",
         "title": f"at initialisation, length {lengths[-1]}", "logy": True},
        {"series": norms["trained"], "xlabel": dist_label, "ylabel": "mean ||dL/dh_t||",
         "title": f"after {args.steps} steps of training", "logy": True},
        {"series": {k: train_series(d, "grad_norm") for k, d in clipped.items()},
         "xlabel": "step", "ylabel": "gradient norm (before clipping)", "logy": True,
         "title": f"tanh RNN, W_h x {args.explode_scale}, length {args.explode_length}"},
        {"series": {k: train_series(d, "loss") for k, d in clipped.items()},
         "xlabel": "step", "ylabel": "training MSE (1/6: always 1)", "logy": True,
         "title": "the same runs: loss"},
        {"series": solved, "xlabel": "sequence length", "ylabel": "test sequences solved",
         "title": "adding problem solved (|error| < 0.04)"},
    ]  # fmt: skip
    names = [*cells, *norms["init"], *clipped]  # one colour per line name, in every panel
    colors = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(names))}
    plotting.plot_panels([{**panel, "colors": colors} for panel in panels], args.out)
    print(f"{'cell':<7}" + "".join(f"{'T=' + str(n):>22}" for n in lengths))
    for cell in cells:
        by_length = {c["length"]: r for c, r, _ in runs if c["model"]["cell"] == cell}
        diverged = {c["length"] for c, d in failed(main_folder) if c["model"]["cell"] == cell}
        entries = ["diverged" if n in diverged else table_entry(by_length.get(n)) for n in lengths]
        print(f"{cell:<7}" + "".join(f"{e:>22}" for e in entries))
    print("(solved share, then ||dL/dh|| at distance T after training)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
