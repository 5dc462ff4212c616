"""Each figure function writes a non-empty PNG."""

import numpy as np

from rnn_jax import plotting
from rnn_jax.training import rundir


def test_figures_are_written(tmp_path):
    log = rundir.MetricsLog(tmp_path / "metrics.jsonl")
    for step in (1, 2, 3):
        log.write(step, "train", {"loss": 1.0 / step, "accuracy": 0.1 * step})
    log.write(3, "val", {"loss": 0.5, "accuracy": 0.3})
    paths = [
        plotting.plot_curves(
            rundir.read_metrics(tmp_path), ["loss", "accuracy"], tmp_path / "f" / "curves.png"
        ),
        plotting.plot_confusion(np.eye(3, dtype=int) * 5, tmp_path / "f" / "conf.png"),
        plotting.plot_line(
            [1, 2],
            {"a": [0.1, 0.2]},
            tmp_path / "f" / "line.png",
            xlabel="x",
            ylabel="y",
            title="t",
            logy=True,
        ),
        plotting.plot_series(
            {"a": ([0.5, 1.0], [0.1, 0.2]), "b": ([0.2, 0.9, 2.0], [0.1, 0.3, 0.4])},
            tmp_path / "f" / "series.png",
            xlabel="minutes",
            ylabel="accuracy",
            title="t",
        ),
        plotting.plot_panels(
            [
                {
                    "series": {"a": ([1, 2], [1e-3, 0.0])},
                    "xlabel": "d",
                    "ylabel": "g",
                    "title": "zeros left out of a log scale",
                    "logy": True,
                },
                {"series": {"b": ([1, 2], [0.5, 0.6])}, "xlabel": "x", "ylabel": "y", "title": "t"},
                {"series": {"c": ([1, 2], [0.5, 0.6])}, "xlabel": "x", "ylabel": "y", "title": "t"},
            ],
            tmp_path / "f" / "panels.png",
        ),  # fmt: skip
        plotting.plot_completions(
            np.zeros((2, 28, 28)), 14, np.ones((2, 28, 28)), [0, 1], tmp_path / "f" / "comp.png"
        ),
    ]
    for path in paths:
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 1000
