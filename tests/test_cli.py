"""The shared command line: every bad setting in every experiment is one ``error:`` line and
exit 2, before any work (table-driven, in-process)."""

import sys

import pytest

import experiments
from rnn_jax.errors import ConfigError
from rnn_jax.training import checks, distributed, rundir

EVERY = [
    ("--train.lr", "-1", "--train.lr must be > 0, got -1.0"),
    ("--train.devices", "0", "--train.devices must be >= 1, got 0"),
    ("--train.warmup-steps", "-5", "--train.warmup-steps must be >= 0"),
    ("--train.schedule", "linear", "--train.schedule must be one of ('constant', 'cosine')"),
    ("--dist.coordinator", "localhost:99999", "--dist.coordinator must be HOST:PORT"),
    ("--dist.coordinator", "localhost", "--dist.coordinator must be HOST:PORT"),
    ("--dist.timeout", "0", "--dist.timeout must be > 0, got 0"),
    ("--dist.num-processes", "0", "--dist.num-processes must be >= 1"),
]
OWN = [
    (
        "timeseries",
        ["--train.lrr", "3"],
        "Unrecognized options: --train.lrr, 3; did you mean --train.lr?",
    ),
    ("video", ["--train.lr", "abc"], "Error parsing --train.lr: could not convert string to float"),
    ("mnist_gen", ["--train.eval-every", "0"], "--train.eval-every must be >= 1, got 0"),
    ("mnist_gen", ["--train.val-size", "0"], "--train.val-size must be >= 1"),
    ("signal_forecast", ["--data.stride", "0"], "--data.stride must be >= 1, got 0"),
    ("signal_forecast", ["--model.dropout", "-0.1"], "--model.dropout must be in [0.0, 1.0)"),
    ("translate", ["--model.embed", "0"], "--model.embed must be >= 1, got 0"),
    ("mnist_classifier", ["--model.dropout", "1.5"], "--model.dropout must be in [0.0, 1.0)"),
    ("mnist_classifier", ["--train.epochs", "0"], "--train.epochs must be >= 1"),
    ("caption", ["--beams", "0"], "each of --beams must be >= 1, got 0"),
    ("caption", ["--model.channels", "16", "-2"], "each of --model.channels must be >= 1"),
    ("crnn", ["--train.batch-size", "0"], "--train.batch-size must be >= 1"),
    ("reber", ["--model.hidden", "0"], "each of --model.hidden must be >= 1, got 0"),
    ("timeseries", ["--train.steps", "0"], "--train.steps must be >= 1"),
    ("char_rnn", ["--temperature", "0"], "--temperature must be > 0"),
]


def assert_one_error_line(module: str, args: list[str], message: str, capsys, lines=1) -> None:
    """Exit 2 with ``error: ...message...`` (and, past the checks, the traceback hint)."""
    with pytest.raises(SystemExit) as stop:
        experiments.find(module).main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == lines and message in err, err


@pytest.mark.parametrize("module", experiments.names())
@pytest.mark.parametrize("flag, value, message", EVERY)
def test_shared_settings_out_of_range_in_every_experiment(module, flag, value, message, capsys):
    assert_one_error_line(module, [flag, value], message, capsys)


@pytest.mark.parametrize("module, args, message", OWN)
def test_experiment_settings_out_of_range(module, args, message, capsys):
    assert_one_error_line(module, args, message, capsys)


def test_checks_read_through_sections_and_keep_a_base_class_constraint():
    from dataclasses import dataclass
    from typing import Annotated

    @dataclass(frozen=True)
    class Base:
        size: Annotated[int, checks.count] = 1

    @dataclass(frozen=True)
    class Child(Base):
        size: int = 4  # a new default; the base's check still holds

    @dataclass(frozen=True)
    class Outer:
        inner: Child = Child()
        sizes: Annotated[tuple[int, ...], checks.count] = (1, 2)
        maybe: Annotated[int | None, checks.count] = None

    checks.validate(Outer())
    with pytest.raises(ConfigError, match=r"^--inner.size must be >= 1, got 0$"):
        checks.validate(Outer(inner=Child(size=0)))
    with pytest.raises(ConfigError, match=r"^each of --sizes must be >= 1, got 1 0$"):
        checks.validate(Outer(sizes=(1, 0)))


def test_a_workdir_that_is_a_file_is_one_error_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(SystemExit) as stop:
        experiments.find("timeseries").main(
            ["--train.steps", "2", "--workdir", str(tmp_path / "taken")]
        )
    err = capsys.readouterr().err
    assert stop.value.code == 3 and err.startswith("error: ") and err.count("\n") == 1, err
    assert str(tmp_path / "taken") in err and "--resume" in err


def test_a_read_only_workdir_is_one_error_line(tmp_path, capsys, monkeypatch):
    """As a read-only folder refuses the first file of the run (simulated: the tests run as
    root, whom chmod does not stop)."""
    folder = tmp_path / "read-only"

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(rundir, "write_atomic", refuse)
    with pytest.raises(SystemExit) as stop:
        experiments.find("timeseries").main(["--train.steps", "2", "--workdir", str(folder)])
    err = capsys.readouterr().err
    assert stop.value.code == 3 and err.count("\n") == 1, err
    assert err.startswith(f"error: Permission denied: {folder / 'config.json'}; fix the folder")


def test_a_process_lost_before_training_is_one_error_line(tmp_path, capsys, monkeypatch):
    """As when another process of a multi-process run fails before training (simulated: one
    process, told that it spans several, meets gloo's error at the run directory's barrier)."""

    def lost(name):
        raise RuntimeError("UNKNOWN: Gloo context initialization failed: DEADLINE_EXCEEDED\n...")

    monkeypatch.setattr(distributed, "spans_processes", lambda: True)
    monkeypatch.setattr(distributed, "barrier", lost)
    monkeypatch.setattr(distributed.os, "_exit", sys.exit)
    with pytest.raises(SystemExit) as stop:
        experiments.find("timeseries").main(["--train.steps", "2", "--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 3 and err.count("\n") == 2, err  # below the progress bar
    assert "error: another process of this run stopped (UNKNOWN: Gloo context" in err
    assert "start all processes again" in err


@pytest.mark.parametrize("module", ["mnist_gen", "crnn"])
def test_a_missing_classifier_is_named_before_training(module, tmp_path, capsys):
    assert_one_error_line(
        module,
        ["--classifier", str(tmp_path / "nope"), "--workdir", str(tmp_path / "run")],
        "is not a run directory",
        capsys,
        lines=2,
    )
    assert not (tmp_path / "run").exists()  # nothing started
