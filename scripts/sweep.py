"""Grids of runs of any experiment, and their tables and figures.

    python -m scripts.sweep mnist_classifier --set model.cell=rnn,gru,lstm \\
        --set model.hidden=32,64,128 --set seed=0:3 --data-dir DIR
    python -m scripts.sweep timeseries --set seed=0:8 --set train.lr=1e-3,3e-3 --name lr
    python -m scripts.sweep --file sweep.toml     # the same from a file (sweeps.grid.read_file)
    python -m scripts.sweep collect runs/sweeps/NAME

Every ``--set PATH=VALUES`` is an axis (any setting of the experiment's config;
``a:b`` is the ints a .. b-1, ``64+64`` a tuple such as two layers' sizes);
the sweep is their product. Each member is an ordinary run in
``runs/sweeps/<name>/<axis=value,...>/``. The plan (members, and the groups
that differ only in their seed and optimizer settings) is printed before
anything trains. Each group trains as one vmapped program
(:mod:`rnn_jax.training.members`; ``--devices N`` splits its members over N devices, the
cores of a CPU or several GPUs; ``--sequential``: each member on its own); a
re-run skips finished members and resumes interrupted ones from their
checkpoints; a member that fails (NaN, a bad combination) is marked failed in
its directory and the rest go on. ``--dist.num-processes N --dist.process-id
I`` (or ``--dist.auto`` under SLURM) shares the members out over N processes or
hosts, every N-th from the I-th; the last to finish writes the tables. At the
end (and with ``collect``): ``results.csv``, ``results.md`` (mean ± std over
seeds), and figures: each group's validation curves overlaid; with
``model.cell`` and ``model.hidden`` axes, the test figure against hidden size
per cell with error bars over seeds; for runs that report a curve (accuracy
against rows read, against string length), that curve per configuration with
error bars.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

import experiments
from rnn_jax import plotting
from rnn_jax.errors import ConfigError, UserError
from rnn_jax.sweeps import grid as sweep
from rnn_jax.training import checks, distributed, experiment, members, parallel, rundir


def run_sweep(args: argparse.Namespace) -> Path:
    if not args.experiment:
        raise UserError("name the experiment to sweep (or give a --file that does)")
    if not args.set:
        raise UserError("a sweep needs at least one axis: --set PATH=VALUES")
    definition = experiments.find(args.experiment)
    axes = [sweep.parse_axis(spec, definition.config) for spec in args.set]
    assignments = sweep.expand(axes)
    for assignment in assignments:  # every member's settings, before any of them trains
        checks.validate(sweep.apply(definition.config(), assignment))
    if args.devices is not None and args.devices < 1:
        raise UserError(f"--devices must be >= 1, got {args.devices}")
    name = args.name or "_".join(a.path.rsplit(".", 1)[-1] for a in axes)
    if Path(name).name != name or name in ("", ".", ".."):
        raise UserError(f"--name {name!r} must be a plain folder name inside --root, not a path")
    folder = sweep.prepare(Path(args.root) / name, args.experiment, axes)
    extra = {"data_dir": args.data_dir} if args.data_dir else {}
    if extra and "data_dir" not in definition.options.__dataclass_fields__:
        raise UserError(f"{args.experiment} takes no --data-dir")

    grouped = sweep.groups(assignments)
    # Members are independent runs: several processes share them out, as an array job
    # would, each training its own (together where they share a program) on its devices.
    share = distributed.share(len(assignments), args.dist)
    mine = {sweep.run_name(assignments[k]) for k in share}
    where = f" (this process: {len(mine)} of them)" if len(mine) < len(assignments) else ""
    print(
        f"sweep {folder}: {len(assignments)} runs of {args.experiment}, {len(grouped)} "
        f"program(s){where}"
    )
    for i, group in enumerate(grouped, 1):
        shared = sweep.run_name(dict(members.program_key(group[0]))) or "(all)"
        print(f"  group {i}: {shared}: {len(group)} member(s)")
    for group in grouped:
        group = [a for a in group if sweep.run_name(a) in mine]
        runs = [folder / sweep.run_name(a) for a in group]
        states = [sweep.status(r) for r in runs]
        for run, state in zip(runs, states):
            if state == "done":
                print(f"{run.name}: done, skipped")
            elif state == "failed":
                print(f"{run.name}: failed before, skipped (delete its folder to try again)")
        todo = [(a, r, st) for a, r, st in zip(group, runs, states) if st in ("new", "partial")]
        # Together: all new members, or all interrupted ones (they stopped at one step).
        together = [t for t in todo if t[2] == "new"] or todo
        if args.sequential or len(together) < 2 or len({t[2] for t in together}) > 1:
            together = []
        for assignment, run, state in todo:
            if (assignment, run, state) not in together:
                train_one(definition, extra, assignment, run, resume=state == "partial")
        if together:
            try:
                train_group(definition, extra, together, args.devices or 1)
            except ConfigError as err:  # e.g. interrupted members stopped at different steps
                print(f"cannot train these together ({err}); one by one instead")
                for assignment, run, state in together:
                    train_one(definition, extra, assignment, run, resume=state == "partial")
    return folder


def train_one(definition, extra, assignment, run: Path, *, resume: bool) -> None:
    """One member on its own, through the experiment's own entry point."""
    print(f"{run.name}: {'resuming' if resume else 'training'}")
    config = sweep.apply(definition.config(), assignment)
    options = definition.options(workdir=str(run), resume=resume, **extra)
    try:
        definition.train_and_evaluate(config, options)
        (run / "failed.json").unlink(missing_ok=True)
    except UserError as err:
        run.mkdir(parents=True, exist_ok=True)
        (run / "failed.json").write_text(json.dumps({"error": str(err)}) + "\n")
        print(f"{run.name}: failed ({err}); the others go on", file=sys.stderr)


def train_group(definition, extra, todo, devices: int) -> None:
    """Members that differ in their seed and learning rate alone, trained together
    (:mod:`rnn_jax.training.members`)."""
    names = ", ".join(run.name for _, run, _ in todo)
    print(f"{'resuming' if todo[0][2] == 'partial' else 'training'} together: {names}")
    tasks, folders = [], []
    resume = todo[0][2] == "partial"
    for assignment, run, _ in todo:
        options = definition.options(workdir=str(run), resume=resume, **extra)
        task = definition.make_task(sweep.apply(definition.config(), assignment), options)
        folders.append(experiment.prepare(task, run, resume=resume))
        tasks.append(task)
    results = experiment.run_group(tasks, folders, resume=resume, devices=devices)
    for run, result in zip(folders, results):
        if result is None:
            print(f"{run.name}: failed (see {run / 'failed.json'}); the others went on")


def collect(folder: Path) -> None:
    """Write results.csv, results.md and the figure; print the table."""
    spec = json.loads((folder / "sweep.json").read_text())
    rows = sweep.collect(folder)
    failed = sorted(p.parent.name for p in folder.glob("*/failed.json"))
    with (folder / "results.csv").open("w", newline="") as f:
        fields = list(dict.fromkeys(k for r in rows for k in r)) or ["run"]
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    table = sweep.summarize(rows, list(spec["axes"]))
    text = sweep.markdown(table)
    if failed:
        text += f"\nfailed: {', '.join(failed)}\n"
    (folder / "results.md").write_text(text)
    print(text)
    for figure in figures(folder, spec["axes"], rows, table):
        print(f"figure: {figure}")
    print(f"tables: {folder / 'results.md'}, {folder / 'results.csv'}")


def figures(folder: Path, axes: dict, rows: list[dict], table: list[dict]) -> list[Path]:
    """The sweep's figures: per group, its members' validation curves overlaid; with cell
    and hidden axes, the test figure against hidden size per cell; for runs that report
    a curve (:func:`rnn_jax.training.task.curve`), that curve per configuration, mean ± std."""
    if not rows:
        return []
    out, figs = [], folder / "figures"
    best = json.loads((folder / rows[0]["run"] / "config.json").read_text())["best"]
    name = best["metric"].split("/", 1)[1]
    by_group: dict[str, dict[str, tuple]] = {}
    for row in rows:
        key = sweep.run_name(dict(members.program_key({k: row[k] for k in axes}))) or "all"
        curve = [
            (r["step"], r["value"])
            for r in rundir.read_metrics(folder / row["run"])
            if r["split"] == "val" and r["name"] == name
        ]
        by_group.setdefault(key, {})[row["run"]] = tuple(zip(*curve))
    for key, curves in by_group.items():
        steps = next(iter(curves.values()))[0]
        out.append(
            plotting.plot_line(
                steps,
                {run: values for run, (_, values) in curves.items()},
                figs / "curves" / f"{key}.png",
                xlabel="step",
                ylabel=best["metric"],
                title=f"{key}: validation curves",
            )
        )
    if "model.cell" in axes and "model.hidden" in axes:
        path = figs / "by_hidden.png"
        out.append(plotting.plot_sweep(table, "model.hidden", "model.cell", f"test/{name}", path))
    curves: dict[str, list] = {}
    varied = [k for k in axes if k != "seed" and len({str(r[k]) for r in rows}) > 1]
    for row in rows:
        results = json.loads((folder / row["run"] / "results.json").read_text())
        if "curve" in results:
            key = sweep.run_name({k: row[k] for k in varied}) or "all"
            curves.setdefault(key, []).append(results["curve"])
    if curves:
        spec = next(iter(curves.values()))[0]
        ys = {k: np.array([c["y"] for c in cs], float) for k, cs in curves.items()}
        path, logy = figs / f"{spec['name']}.png", spec.get("logy", False)
        ylabel = f"{spec['ylabel']} (mean ± std over seeds)"
        labels = {"xlabel": spec["xlabel"], "title": spec["title"], "logy": logy}
        if all(cs[0]["x"] == spec["x"] for cs in curves.values()):
            means = {k: np.nanmean(y, axis=0) for k, y in ys.items()}
            errors = {k: np.nanstd(y, axis=0) for k, y in ys.items() if len(y) > 1}
            out.append(
                plotting.plot_line(spec["x"], means, path, ylabel=ylabel, errors=errors, **labels)
            )
        else:  # each configuration on its own x (e.g. sequence lengths): the means alone
            series = {k: (curves[k][0]["x"], np.nanmean(y, axis=0)) for k, y in ys.items()}
            out.append(
                plotting.plot_series(
                    series, path, ylabel=f"{spec['ylabel']} (mean over seeds)", **labels
                )
            )
    return out


def from_file(args: argparse.Namespace) -> None:
    """Fill ``args`` from ``args.file``: the command line's flags win, its ``--set`` axes
    come after the file's."""
    spec = sweep.read_file(args.file)
    args.set = spec["set"] + args.set
    for key in ("experiment", "name", "data_dir", "devices", "sequential"):
        if key in spec and not getattr(args, key):
            setattr(args, key, spec[key])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if argv[:1] == ["collect"]:
        parser.add_argument("command")
        parser.add_argument("folder", type=Path)
    else:
        parser.add_argument("experiment", nargs="?")
        parser.add_argument("--file", type=Path, help="a TOML sweep file; flags add to it")
        parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUES")
        parser.add_argument("--name", help="the sweep's folder name (default: from its axes)")
        parser.add_argument("--root", default="runs/sweeps", help="where sweeps are kept")
        parser.add_argument("--data-dir", help="passed to experiments that read MNIST")
        parser.add_argument(
            "--sequential", action="store_true", help="train every member on its own"
        )
        parser.add_argument("--devices", type=int, help="split each group's members over N devices")
        share = "share the sweep's runs out over N processes (or hosts); this one is I"
        parser.add_argument("--dist.num-processes", dest="num_processes", type=int, help=share)
        parser.add_argument("--dist.process-id", dest="process_id", type=int)
        parser.add_argument(
            "--dist.auto", dest="auto", action="store_true", help="N and I from SLURM"
        )
    args = parser.parse_args(argv)
    if hasattr(args, "auto"):
        args.dist = distributed.DistOptions(
            num_processes=args.num_processes, process_id=args.process_id, auto=args.auto
        )
    try:
        if getattr(args, "file", None):
            from_file(args)
        parallel.split_cpu(getattr(args, "devices", None) or 1)  # before JAX starts
        if argv[:1] == ["collect"]:
            if not (args.folder / "sweep.json").is_file():
                raise UserError(f"{args.folder} is not a sweep folder (no sweep.json)")
            collect(args.folder)
        else:
            folder = run_sweep(args)
            left = [r for r in sweep.runs(folder) if sweep.status(r) in ("new", "partial")]
            if left:  # the last process of a shared-out sweep to finish writes the tables
                print(
                    f"{len(left)} of the sweep's runs are not finished (in other processes?); "
                    f"collect them later: python -m scripts.sweep collect {folder}"
                )
            else:
                collect(folder)
            failed = sorted(p.parent.name for p in folder.glob("*/failed.json"))
            if failed:
                print(
                    f"error: {len(failed)} run(s) of the sweep failed: {', '.join(failed)} (each "
                    "run's failed.json says why; delete its folder to try it again)",
                    file=sys.stderr,
                )
                sys.exit(1)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
