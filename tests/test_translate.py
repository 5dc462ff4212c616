"""experiments.translate: disjoint test years, the round trip of dates, a tiny run, loading."""

import pytest

import experiments
from experiments import translate as tr

SMALL = tr.DataConfig(years=(1990, 2009), test_years=(2000, 2001), train_dates=256, val_dates=32,
                      test_dates=64)  # fmt: skip


def test_test_dates_come_only_from_the_test_years():
    data = tr.make_splits(tr.Config(data=SMALL))
    years = {name: {int(iso[:4]) for iso in s.isos} for name, s in data.items()}
    assert years["test"] <= {2000, 2001}
    assert not (years["train"] | years["val"]) & {2000, 2001}
    again = tr.make_splits(tr.Config(data=SMALL))
    assert again["test"].texts == data["test"].texts
    arrays = tr.as_arrays(data["train"])
    assert arrays["chars"].shape == (256, tr.IN_LEN) and arrays["target"].shape == (256, tr.OUT_LEN)
    assert tr.decode_output(arrays["target"][0]) == data["train"].isos[0]


@pytest.mark.slow
def test_tiny_run_then_load_and_predict(tmp_path, capsys):
    config = tr.Config(data=SMALL, model=tr.ModelConfig(hidden=16, embed=8),
                       train=tr.TrainConfig(epochs=1, batch_size=32))  # fmt: skip
    results = tr.EXPERIMENT.train_and_evaluate(
        config, tr.experiment.RunOptions(str(tmp_path / "run"))
    )
    assert set(results["exact_by_format"]) == set(tr.dates.FORMATS)
    assert 0.0 <= results["exact_match"] <= 1.0
    for name in ("attention.png", "exact_vs_length.png", "curves.png"):
        assert (tmp_path / "run" / "figures" / name).stat().st_size > 1000
    model = experiments.load(tmp_path / "run")
    said = model.predict(["Monday 22nd of April 2019", "22/04/2019"])
    assert len(said) == 2 and all(set(s) <= set("0123456789-") for s in said)
    with pytest.raises(ValueError, match="not a date this model reads"):
        model.predict(["22 März 2019"])
    for args, message in (
        (["--model.kind", "rnn"], "--model.kind must be one of ('attention', 'encdec', 'plain')"),
        (["--data.test-years", "1800", "1801"], "must lie inside --data.years"),
    ):
        with pytest.raises(SystemExit) as stop:
            tr.EXPERIMENT.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err
