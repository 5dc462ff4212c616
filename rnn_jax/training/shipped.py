"""Trained models shipped with the package (in ``rnn_jax/pretrained/``): safetensors
weights, a JSON card, a checksum.

Each model ``NAME`` is two files in that folder: ``NAME.safetensors`` (the
parameters, one tensor per leaf, named by its path: ``rnn/0/wx``) and
``NAME.json`` (the experiment, its settings, the step,
the test figures it reached, the command that trained it, and the SHA-256 of
the weights). :func:`export` writes them from a trained run; :func:`load`
checks the checksum and gives back a :class:`rnn_jax.training.loading.TrainedRun`.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from rnn_jax.errors import UserError
from rnn_jax.training.loading import TrainedRun
from rnn_jax.typing import Params

FOLDER = Path(__file__).parents[1] / "pretrained"


class PretrainedError(UserError, ValueError):
    """A shipped model that is missing, altered or corrupt."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flatten(params: Params, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"rnn": [{"wx": a}]} -> {"rnn/0/wx": a}`` (dicts and lists of arrays)."""
    if isinstance(params, dict):
        items = params.items()
    elif isinstance(params, list | tuple):
        items = ((str(i), v) for i, v in enumerate(params))
    else:
        return {prefix: np.asarray(params)}
    out = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return out


def unflatten(flat: dict[str, np.ndarray]) -> Params:
    """The inverse of :func:`flatten`: all-digit path parts are list positions."""
    tree: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    def lists(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[str(i)] for i in range(len(node))]
        return node

    return lists(tree)


def export(run: TrainedRun, name: str, card: dict, folder: str | Path = FOLDER) -> Path:
    """Write ``run``'s parameters and card as model ``name``; returns the weights' path.

    ``card`` adds what the card should say (test figures, the training command).
    Both files are written to temporary names and renamed, so a crash leaves the
    previous pair or the new one.
    """
    folder = Path(folder)
    weights, meta = folder / f"{name}.safetensors", folder / f"{name}.json"
    tmp_weights = weights.with_suffix(".safetensors.tmp")
    save_file(flatten(run.params), str(tmp_weights))
    doc = {
        "experiment": run.experiment,
        "config": run.config,
        "step": run.step,
        "val": run.metrics,
        **card,
        "sha256": _sha256(tmp_weights),
    }
    tmp_meta = meta.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp_weights, weights)
    os.replace(tmp_meta, meta)
    return weights


def card(name: str, folder: str | Path = FOLDER) -> dict:
    """The JSON card of model ``name``."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in Path(folder).glob("*.json"))
        raise PretrainedError(f"no pretrained model {name!r} in {folder}; shipped: {known}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PretrainedError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno}; truncated?); reinstall "
            "the package, or export the model again from its run"
        ) from err


def load(name: str, folder: str | Path = FOLDER) -> TrainedRun:
    """Model ``name`` as a :class:`TrainedRun`, after checking its weights' SHA-256.

    Raises:
      PretrainedError: a missing file, a checksum that does not match, or weights
        that cannot be read.
    """
    doc = card(name, folder)
    weights = Path(folder) / f"{name}.safetensors"
    if not weights.is_file():
        raise PretrainedError(f"{weights} is missing; reinstall the package")
    if _sha256(weights) != doc["sha256"]:
        raise PretrainedError(
            f"{weights} does not match the checksum in {name}.json (corrupt or altered); "
            "reinstall the package, or export the model again from its run"
        )
    try:
        params = unflatten(load_file(str(weights)))
    except Exception as err:  # safetensors raises its own error types for bad files
        raise PretrainedError(f"{weights} cannot be read ({err}); reinstall the package") from err
    return TrainedRun(
        experiment=doc["experiment"],
        config=doc["config"],
        params=params,
        step=doc["step"],
        metrics=doc.get("val", {}),
        source=f"pretrained {name} ({weights})",
    )
