"""Sweeps: axes, grid expansion, grouping, names, collect; a tiny sweep through the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import mnist_classifier as mc
from rnn_jax.errors import ConfigError
from rnn_jax.sweeps import grid as sweep
from rnn_jax.training import members as group_members
from scripts import sweep as sweep_cli

REPO = Path(__file__).resolve().parents[1]


def test_axes_parse_by_the_settings_types():
    assert sweep.parse_axis("model.cell=rnn,gru,lstm", mc.Config).values == ("rnn", "gru", "lstm")
    assert sweep.parse_axis("model.hidden=32,64+64", mc.Config).values == ((32,), (64, 64))
    assert sweep.parse_axis("seed=0:3", mc.Config).values == (0, 1, 2)
    assert sweep.parse_axis("train.lr=1e-3,3e-3", mc.Config).values == (1e-3, 3e-3)
    assert sweep.parse_axis("train.epoch-per-call=true,false", mc.Config).values == (True, False)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("model.cels=lstm", r"model has no setting 'cels'; choose one of \['cell', "),
        ("train.lr=fast", "'fast' is not a float"),
        ("seed=", "gives no values"),
        ("model=lstm", "names a section"),
        ("seed", "write PATH=VALUES"),
        ("seed=1,1", "lists a value twice"),
    ],
)
def test_bad_axes_are_clear_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        sweep.parse_axis(spec, mc.Config)


def test_expand_group_name_and_apply():
    axes = [
        sweep.parse_axis("model.hidden=32,64", mc.Config),
        sweep.parse_axis("train.lr=1e-3,3e-3", mc.Config),
        sweep.parse_axis("seed=0:2", mc.Config),
    ]
    members = sweep.expand(axes)
    assert len(members) == 8 and members[1] == {
        "model.hidden": (32,),
        "train.lr": 1e-3,
        "seed": 1,
    }
    # Members that differ in their seed and learning rate alone train together.
    assert [len(g) for g in sweep.groups(members)] == [4, 4]
    assert sweep.run_name(members[1]) == "hidden=32,lr=0.001,seed=1"
    config = sweep.apply(mc.Config(), members[1])
    assert config.model.hidden == (32,) and config.train.lr == 1e-3 and config.seed == 1
    assert config.model.cell == "lstm"  # untouched settings keep their defaults
    # A file's path names its run by the file alone (run names are folder names).
    from experiments import signal_forecast as sf

    files = sweep.expand([sweep.parse_axis("data.path=/data/a.npy,/data/b.npy", sf.Config)])
    assert [sweep.run_name(m) for m in files] == ["path=a.npy", "path=b.npy"]
    with pytest.raises(ConfigError, match="would share the folder 'path=a.npy'"):
        sweep.expand([sweep.parse_axis("data.path=/x/a.npy,/y/a.npy", sf.Config)])
    with pytest.raises(ConfigError, match="swept twice"):
        sweep.expand([axes[2], axes[2]])


def test_sweep_files_give_the_same_axes_as_flags(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'experiment = "mnist_classifier"\ndevices = 2\n[set]\n"model.cell" = ["rnn", "gru"]\n'
        'seed = "0:3"\ntrain.lr = [1e-3, 0.003]\n'  # a bare dotted key is a table in TOML
    )
    spec = sweep.read_file(path)
    assert spec["experiment"] == "mnist_classifier" and spec["devices"] == 2
    assert spec["set"] == ["model.cell=rnn,gru", "seed=0:3", "train.lr=0.001,0.003"]
    axes = [sweep.parse_axis(text, mc.Config) for text in spec["set"]]
    assert axes[2] == sweep.Axis("train.lr", (1e-3, 3e-3))
    path.write_text('experiment = "timeseries"\nseeds = "0:3"\n')
    with pytest.raises(ConfigError, match="unknown keys \\['seeds'\\]"):
        sweep.read_file(path)
    path.write_text("[set\n")
    with pytest.raises(ConfigError, match="sweep.toml"):
        sweep.read_file(path)
    with pytest.raises(ConfigError, match="sweep file .*nope.toml"):
        sweep.read_file(tmp_path / "nope.toml")


def test_optimizer_values_share_a_program_but_clipping_on_or_off_does_not():
    axes = [
        sweep.parse_axis("train.warmup_steps=0,100", mc.Config),
        sweep.parse_axis("train.clip_norm=0,0.5,1", mc.Config),
        sweep.parse_axis("model.dropout=0,0.2", mc.Config),  # a model setting: its own program
    ]
    grouped = sweep.groups(sweep.expand(axes))
    assert sorted(len(g) for g in grouped) == [2, 2, 4, 4]
    assert {group_members.program_key(g[0]) for g in grouped} == {
        (("train.clip_norm", on), ("model.dropout", d)) for on in ("on", "off") for d in (0, 0.2)
    }


def test_summarize_means_and_stds_over_seeds():
    rows = [
        {"run": "a", "model.cell": "gru", "seed": "0", "test/accuracy": 0.8},
        {"run": "b", "model.cell": "gru", "seed": "1", "test/accuracy": 0.9},
        {"run": "c", "model.cell": "rnn", "seed": "0", "test/accuracy": 0.5},
    ]
    table = sweep.summarize(rows, ["model.cell", "seed"])
    assert table[0]["seeds"] == 2 and table[0]["test/accuracy"] == pytest.approx((0.85, 0.05))
    assert table[1]["test/accuracy"] == (0.5, 0.0)
    assert "0.85 ± 0.05" in sweep.markdown(table)


def run_sweep(*args):
    return subprocess.run(
        [sys.executable, "-m", "scripts.sweep", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


@pytest.mark.slow
def test_tiny_sweep_through_the_cli(tmp_path, capsys):
    args = [
        "timeseries", "--set", "model.hidden=4,8", "--set", "seed=0:2",
        "--set", "train.steps=20", "--set", "train.lr=1e-3,1e30",
        "--name", "tiny", "--root", str(tmp_path),
    ]  # fmt: skip
    out = run_sweep(*args)
    assert out.returncode == 1, out.stderr[-2000:]  # some members failed: named, not exit 0
    assert "error: 4 run(s) of the sweep failed: hidden=4,seed=0,steps=20,lr=1e+30" in out.stderr
    folder = tmp_path / "tiny"
    assert "8 runs of timeseries, 2 program(s)" in out.stdout
    assert "group 1: hidden=4,steps=20: 4 member(s)" in out.stdout
    # Members that differ in their seed and learning rate alone train together.
    assert "training together: hidden=4,seed=0,steps=20,lr=0.001, hidden=4,seed=0" in out.stdout
    member = folder / "hidden=8,seed=1,steps=20,lr=0.001"
    saved = json.loads((member / "config.json").read_text())["config"]
    assert saved["model"]["hidden"] == [8] and saved["seed"] == 1 and saved["train"]["lr"] == 1e-3
    # The diverging members are marked failed; the others finished.
    failed = sorted(p.parent.name for p in folder.glob("*/failed.json"))
    assert len(failed) == 4 and all(name.endswith("lr=1e+30") for name in failed)
    assert "non-finite" in json.loads((folder / failed[0] / "failed.json").read_text())["error"]
    table = (folder / "results.md").read_text()
    assert "| model.hidden | train.steps | train.lr | seeds |" in table
    assert "failed: " in table
    rows = (folder / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and "test/mse" in rows[0]

    (member / "results.json").unlink()  # as if interrupted after its last checkpoint
    again = run_sweep(*args)
    assert again.returncode == 1 and again.stdout.count("done, skipped") == 3
    assert again.stdout.count("failed before, skipped") == 4
    assert f"{member.name}: resuming" in again.stdout and (member / "results.json").is_file()
    # Bad input stops before anything trains; in this process, to spare the start-ups.
    (tmp_path / "other.toml").write_text(
        'experiment = "timeseries"\nname = "tiny"\n[set]\nseed = [0, 1]\n'
    )
    for argv, message in [
        (["timeseries", "--set", "seed=0:2", "--name", "tiny"], "holds a sweep of timeseries over"),
        (["--file", str(tmp_path / "other.toml")], "holds a sweep of timeseries over"),
        (["timeseries", "--set", "model.hiden=4"], "model has no setting 'hiden'"),
        (["nope", "--set", "seed=0:2"], "unknown experiment 'nope'"),
        (["timeseries", "--set", "train.lr=1e-3,-1"], "--train.lr must be > 0, got -1.0"),
        (["timeseries", "--set", "seed=0:2", "--devices", "0"], "--devices must be >= 1"),
        (["timeseries", "--set", "seed=0:2", "--name", "../../x"], "must be a plain folder"),
    ]:
        with pytest.raises(SystemExit) as stop:
            sweep_cli.main([*argv, "--root", str(tmp_path)])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    collected = run_sweep("collect", str(folder))
    assert collected.returncode == 0 and "tables:" in collected.stdout


@pytest.mark.slow
def test_processes_share_a_sweep_out_and_the_last_writes_the_tables(tmp_path):
    args = ["timeseries", "--set", "seed=0:3", "--set", "train.steps=20", "--set",
            "model.hidden=4", "--name", "shared", "--root", str(tmp_path),
            "--dist.num-processes", "2"]  # fmt: skip
    first = run_sweep(*args, "--dist.process-id", "1")  # seed 1 only; 0 and 2 are not done
    assert first.returncode == 0, first.stderr[-2000:]
    assert "(this process: 1 of them)" in first.stdout
    assert "2 of the sweep's runs are not finished" in first.stdout
    assert not (tmp_path / "shared" / "results.md").exists()
    second = run_sweep(*args, "--dist.process-id", "0")  # seeds 0 and 2: the sweep is done
    assert second.returncode == 0, second.stderr[-2000:]
    assert "| 20 | 4 | 3 |" in (tmp_path / "shared" / "results.md").read_text()


@pytest.mark.slow
def test_classifier_sweep_draws_accuracy_against_rows_read(tmp_path):
    out = run_sweep(
        "mnist_classifier", "--set", "synthetic=200", "--set", "train.epochs=1",
        "--set", "train.batch-size=16", "--set", "model.hidden=8", "--set", "seed=0:2",
        "--name", "clf", "--root", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    figures = tmp_path / "clf" / "figures"
    assert (figures / "accuracy_vs_rows.png").stat().st_size > 1000
    (curves,) = (figures / "curves").glob("*.png")  # one group: its two seeds overlaid
    assert curves.name == "synthetic=200,epochs=1,batch_size=16,hidden=8.png"
