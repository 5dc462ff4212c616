"""Ship a trained run as a pretrained model inside the package (rnn_jax/pretrained/).

    python -m experiments.mnist_gen --data-dir DIR --workdir runs/mnist_gen/default
    python -m scripts.export_pretrained runs/mnist_gen/default --experiment mnist_gen \\
        --command "python -m experiments.mnist_gen"

    python -m scripts.export_pretrained runs/mnist_gen/bernoulli --experiment mnist_gen \\
        --variant bernoulli --command "..."     # experiments.pretrained("mnist_gen", "bernoulli")

Writes ``<experiment>[_<variant>].safetensors`` (the best checkpoint's parameters) and
``<experiment>[_<variant>].json`` (settings, step, validation and test figures from
the run's ``metrics.jsonl``, the command, a checksum); see
:mod:`rnn_jax.training.shipped`.
"""

import argparse

from rnn_jax.training import loading, rundir, shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--experiment", required=True)
    parser.add_argument(
        "--variant", help="ship it beside the experiment's main model, by this name"
    )
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--folder", default=str(shipped.FOLDER))
    args = parser.parse_args()

    run = loading.load_run(args.run_dir, args.experiment)
    test = {
        r["name"]: r["value"]
        for r in rundir.read_metrics(args.run_dir)
        if r["split"] == "test" and r["step"] == run.step
    }
    if not test:
        raise SystemExit(f"{args.run_dir} has no test row at step {run.step}; finish the run first")
    saved = rundir.read_run(args.run_dir, args.experiment)
    card = {"test": test, "command": args.command, "git_commit": saved.get("git_commit")}
    name = f"{args.experiment}_{args.variant}" if args.variant else args.experiment
    path = shipped.export(run, name, card, folder=args.folder)
    print(f"wrote {path} and its card (step {run.step}, test {test})")


if __name__ == "__main__":
    main()
