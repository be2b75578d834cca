"""Short fine-tunes of the toy model: loss falls, held-out Dice rises, runs repeat; bad runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_segreview.errors import Cancelled, FormatError
from napari_segreview.inference.models import load_model
from napari_segreview.training.data import load_cases, split_cases
from napari_segreview.training.evaluate import evaluate
from napari_segreview.training.loop import TrainConfig
from napari_segreview.training.progress import Reporter
from napari_segreview.training.run import fine_tune
from toys import CARD, ToyNet, build_toy, files_in, make_export, save_formats

TOY = dict(steps=80, lr=0.1, eval_every=20, batch_size=4, seed=3, threads=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    return make_export(root / "export", 4), save_formats(root / "models")


def _run(setup, tmp_path, name="new.pt", **kw):
    export, models = setup
    events = []
    cfg = TrainConfig(**{**TOY, **kw})
    result = fine_tune(export, models["factory"], factory=build_toy, out=tmp_path / name,
                       config=cfg, reporter=Reporter(callback=events.append))
    return result, events


def test_a_short_run_lowers_the_loss_and_raises_held_out_dice(setup, tmp_path):
    result, events = _run(setup, tmp_path)
    losses = [s["loss"] for s in result.fit.losses]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    c = result.comparison
    assert c["mean_after"] > c["mean_before"] + 0.3
    assert c["worse"] is False
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "step" in kinds
    evals = [e for e in events if e["event"] == "eval"]
    assert evals[0]["step"] == 0 and evals[0]["dice"] == c["before"]
    # "after" is the saved model's Dice, measured again here from the file
    _, cases = load_cases(setup[0], CARD)
    _, held = split_cases(cases, None)
    saved = load_model(result.paths["model"], factory=build_toy)
    again = evaluate(saved, held, CARD)
    assert again.dice == pytest.approx(c["after"])
    assert max(e["mean_dice"] for e in evals) == pytest.approx(c["mean_after"])


def test_the_same_seed_repeats_the_run(setup, tmp_path):
    a, _ = _run(setup, tmp_path, "a.pt", steps=15, eval_every=5)
    b, _ = _run(setup, tmp_path, "b.pt", steps=15, eval_every=5)
    assert [s["loss"] for s in a.fit.losses] == [s["loss"] for s in b.fit.losses]
    assert a.comparison["after"] == b.comparison["after"]


def test_plateau_stops_early(setup, tmp_path):
    result, _ = _run(setup, tmp_path, lr=1e-9, eval_every=1, patience=2)
    assert result.fit.stopped == "plateau" and result.fit.steps_run == 3


def test_nan_loss_stops_with_the_learning_rate_named(setup, tmp_path):
    export, _models = setup
    net = ToyNet()
    with torch.no_grad():
        net.head.weight.fill_(float("nan"))
    bad = tmp_path / "nan.pt"
    torch.save(net.state_dict(), bad)
    before = files_in(tmp_path)
    with pytest.raises(FormatError, match=r"NaN.*learning rate.*likely cause") as err:
        fine_tune(export, bad, card=CARD, factory=build_toy, out=tmp_path / "out.pt",
                  config=TrainConfig(**TOY))
    assert "\n" not in str(err.value)
    assert files_in(tmp_path) == before


def test_no_trainable_parameters(setup, tmp_path):
    export, models = setup
    with pytest.raises(FormatError, match=r"no trainable parameters.*freeze fewer"):
        fine_tune(export, models["factory"], factory=build_toy, out=tmp_path / "o.pt",
                  config=TrainConfig(**{**TOY, "freeze": ("enc.", "head.")}))
    with pytest.raises(FormatError, match=r"no parameter name starts with 'encoder.'"):
        fine_tune(export, models["factory"], factory=build_toy, out=tmp_path / "o.pt",
                  config=TrainConfig(**{**TOY, "freeze": ("encoder.",)}))

    class NoWeights(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x, x, x, x], 1)

    path = tmp_path / "empty.pt"
    torch.jit.script(NoWeights()).save(str(path))
    with pytest.raises(FormatError, match="no parameters to train"):
        fine_tune(export, path, card=CARD, out=tmp_path / "o.pt", config=TrainConfig(**TOY))
    assert not (tmp_path / "o.pt").exists()


def test_freezing_keeps_those_weights(setup, tmp_path):
    result, _ = _run(setup, tmp_path, steps=10, freeze=("enc.",))
    base = torch.load(setup[1]["factory"], weights_only=True)
    new = torch.load(result.paths["model"], weights_only=True)
    assert torch.equal(base["enc.weight"], new["enc.weight"])
    assert not torch.equal(base["head.weight"], new["head.weight"])


def test_cancel_writes_nothing(setup, tmp_path):
    export, models = setup
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        fine_tune(export, models["factory"], factory=build_toy, out=tmp_path / "o.pt",
                  config=TrainConfig(**TOY), cancel=cancel)
    assert files_in(tmp_path) == []


def test_minutes_budget(setup, tmp_path):
    # patience beyond reach: on a fast machine a plateau would end the run before the budget
    result, _ = _run(setup, tmp_path, steps=10_000, minutes=0.02, patience=10_000)
    assert result.fit.stopped == "minutes" and 0 < result.fit.steps_run < 10_000
    result, events = _run(setup, tmp_path, "m.pt", steps=None, minutes=0.02,
                          patience=10_000)  # time alone
    assert result.fit.stopped == "minutes" and result.fit.steps_run > 0
    steps = [e for e in events if e["event"] == "step"]
    assert steps[0]["steps"] is None
