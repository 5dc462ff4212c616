"""Figures (PNG) from a run's metrics and saved arrays; imports nothing else of the package."""

import textwrap
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_curves(rows: Sequence[dict], names: Sequence[str], path: str | Path) -> Path:
    """Learning curves from a run's metric rows (``{"step", "split", "name", "value"}``, as in
    ``metrics.jsonl``): one panel per metric name, one line per split, against step."""
    series = defaultdict(lambda: ([], []))
    for row in rows:
        if row["name"] in names:
            xs, ys = series[(row["name"], row["split"])]
            xs.append(row["step"])
            ys.append(row["value"])
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        for (n, split), (xs, ys) in sorted(series.items()):
            if n == name:
                ax.plot(xs, ys, label=split, marker="o" if split != "train" else None, ms=3)
        ax.set(title=name, xlabel="step")
        if name.endswith("loss") or name.endswith("mse"):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, path: str | Path, title: str = "confusion") -> Path:
    """A confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    k = matrix.shape[0]
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > matrix.max() / 3 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def plot_line(
    xs: Sequence[float],
    ys: dict[str, Sequence[float]],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logy: bool = False,
    errors: dict[str, Sequence[float]] | None = None,
) -> Path:
    """One or more named lines against a shared x axis, with error bars where ``errors``
    gives them (e.g. the std over seeds)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, values in ys.items():
        err = (errors or {}).get(name)
        ax.errorbar(
            xs, values, yerr=err, marker="o", ms=3, capsize=0 if err is None else 3, label=name
        )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if len(xs) > 8 and isinstance(xs[0], str):  # named bins: room for each name
        ax.tick_params(axis="x", labelrotation=45)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


Series = dict[str, tuple[Sequence[float], Sequence[float]]]  # {name: (xs, ys)}


def _draw_series(
    ax, series: Series, xlabel: str, ylabel: str, title: str, logy: bool, colors: dict | None
) -> None:
    for name, (xs, ys) in series.items():
        ys = np.asarray(ys, float)
        if logy:
            ys = np.where(ys > 0, ys, np.nan)
        color = (colors or {}).get(name)
        ax.plot(xs, ys, marker="o" if len(ys) <= 50 else None, ms=3, label=name, color=color)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(series) > 5:  # a long legend goes beside the lines, not over them
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    else:
        ax.legend(fontsize=8)


def plot_series(
    series: Series,
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logy: bool = False,
) -> Path:
    """Named lines, each with its own x values ``{name: (xs, ys)}`` (e.g. accuracy against
    wall time, one line per run); markers only on short lines; with ``logy`` a log scale
    (zeros, e.g. gradients that underflowed, are left out)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    _draw_series(ax, series, xlabel, ylabel, title, logy, None)
    return _save(fig, path)


def plot_panels(panels: Sequence[dict], path: str | Path, columns: int = 2) -> Path:
    """Several :func:`plot_series` figures side by side, one panel per dict of its keyword
    arguments (``series``, ``xlabel``, ``ylabel``, ``title``, optional ``logy``), and an
    optional ``colors`` ``{name: color}`` that keeps a line's colour from panel to panel."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        _draw_series(ax, **{"logy": False, "colors": None, **panel})
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def plot_completions(
    originals: np.ndarray,
    given_rows: int,
    generated: np.ndarray,
    labels: Sequence,
    path: str | Path,
) -> Path:
    """For each image, three panels: Original / Input (top rows only) / Generated."""
    n = len(originals)
    fig, axes = plt.subplots(n, 3, figsize=(4.2, 1.45 * n), squeeze=False)
    for i in range(n):
        given = originals[i].copy()
        given[given_rows:] = 0
        for ax, img, title in zip(
            axes[i], (originals[i], given, generated[i]), ("Original", "Input", "Generated")
        ):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=9)
        axes[i, 0].set_ylabel(str(labels[i]), rotation=0, labelpad=10, fontsize=9)
        axes[i, 2].axhline(given_rows - 0.5, color="red", lw=0.6)
    return _save(fig, path)


def plot_forecast(
    context_t: np.ndarray,
    context: np.ndarray,
    truth: np.ndarray,
    forecasts: dict[str, np.ndarray],
    path: str | Path,
    *,
    title: str,
) -> Path:
    """Input tail, true continuation and forecasts; a dashed line where the forecast starts."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    future_t = np.arange(len(truth))
    ax.plot(context_t, context, color="0.4", lw=1, label="input")
    ax.plot(future_t, truth, color="black", lw=1.2, label="truth")
    for name, values in forecasts.items():
        ax.plot(future_t, values, lw=1, label=name)
    ax.axvline(-0.5, color="black", ls="--", lw=0.8)
    ax.set(xlabel="sample (0 = first forecast)", ylabel="z-scored signal", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_sweep(
    table: Sequence[dict], x_key: str, line_key: str, metric: str, path: str | Path
) -> Path:
    """A sweep's ``metric`` (``(mean, std)`` per row of the table) against ``x_key``, one line
    with error bars per value of ``line_key`` (e.g. test accuracy against hidden size per cell)."""
    xs = list(dict.fromkeys(row[x_key] for row in table))
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for line in dict.fromkeys(row[line_key] for row in table):
        points = [
            (xs.index(r[x_key]), *r[metric]) for r in table if r[line_key] == line and metric in r
        ]
        if points:
            pos, mean, std = zip(*sorted(points))
            ax.errorbar(pos, mean, yerr=std, marker="o", capsize=3, label=str(line))
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set(xlabel=x_key, ylabel=metric, title=f"{metric} (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(title=line_key)
    return _save(fig, path)


def plot_scores(
    panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    thresholds: dict[str, float],
    path: str | Path,
    *,
    xlabel: str,
) -> Path:
    """Anomaly scores over time: one panel per title, one line per signal ``(t, score)``,
    the panel's alarm threshold dashed (log scale)."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    for ax, (title, lines) in zip(axes[:, 0], panels.items()):
        for name, (t, score) in lines.items():
            ax.plot(t, score, lw=0.8, label=name)
        ax.axhline(thresholds[title], color="black", ls="--", lw=0.8, label="alarm threshold")
        ax.set(xlabel=xlabel, ylabel="score (x healthy val MSE)", title=title, yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_images(
    images: np.ndarray, titles: Sequence[str], path: str | Path, *, cols: int = 4
) -> Path:
    """A grid of grayscale images, each with its title (e.g. what a model read in it)."""
    rows = -(-len(images) // cols)
    h, w = images.shape[1:3]
    wide = w > 2 * h  # strings get short panels and one title line; scenes room for three
    panel_h, title_h = (0.9, 0.35) if wide else (2.4, 0.9)
    fig, axes = plt.subplots(
        rows, cols, figsize=(cols * panel_h * w / h, rows * (panel_h + title_h)), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    chars = max(12, int(11 * panel_h * w / h))  # a title line's room at 8 pt
    for ax, image, title in zip(axes.ravel(), images, titles):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255 if image.dtype == np.uint8 else 1)
        lines = [textwrap.fill(line, chars) for line in title.split("\n")]
        ax.set_title("\n".join(lines), fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_attention(rows: Sequence[tuple[np.ndarray, Sequence[str], np.ndarray]], path) -> Path:
    """Per row, an image and then, for each word generated from it, the image under that
    word's attention weights (``maps [words, h, w]``, stretched to the image's size)."""
    cols = 1 + max(len(said) for _, said, _ in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.4 * cols, 1.6 * len(rows)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax_row, (image, said, maps) in zip(axes, rows):
        ax_row[0].imshow(image, cmap="gray")
        ax_row[0].set_title("scene", fontsize=8)
        for ax, word, weights in zip(ax_row[1:], said, maps):
            scale = image.shape[0] // weights.shape[0], image.shape[1] // weights.shape[1]
            ax.imshow(image, cmap="gray")
            ax.imshow(np.kron(weights, np.ones(scale)), cmap="magma", alpha=0.6)
            ax.set_title(word, fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_alignments(
    panels: Sequence[tuple[Sequence[str], Sequence[str], np.ndarray]], path
) -> Path:
    """Per panel, attention weights ``[outputs, inputs]`` as a heat map, the input tokens
    along the x axis and the output tokens along the y axis."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.6), squeeze=False)
    for ax, (inputs, outputs, weights) in zip(axes[0], panels):
        ax.imshow(weights, cmap="magma", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(inputs)), inputs, fontsize=6)
        ax.set_yticks(range(len(outputs)), outputs, fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_clips(
    clips: np.ndarray, lengths: np.ndarray, captions: Sequence[str], path: str | Path
) -> Path:
    """One clip per row (``uint8 [N, T, H, W]``), its valid frames left to right, the row's
    caption above it (e.g. what is true and what a model read)."""
    n, steps = clips.shape[:2]
    fig, axes = plt.subplots(n, steps, figsize=(1.1 * steps, 1.45 * n), squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.3 / n, bottom=0.01, wspace=0.05)
    fig.subplots_adjust(hspace=0.45)
    for row, (clip, length, caption) in enumerate(zip(clips, lengths, captions)):
        for f, ax in enumerate(axes[row]):
            ax.axis("off")
            if f < length:
                ax.imshow(clip[f], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].text(0, 1.06, caption, transform=axes[row, 0].transAxes, fontsize=9)
    return _save(fig, path)
