"""Every model format trains, saves beside its base, reloads and predicts; all-or-nothing saves."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest
import torch

from napari_segreview._util import files as util_files
from napari_segreview.card.spec import find_card, load_card
from napari_segreview.errors import FormatError
from napari_segreview.inference.models import load_model
from napari_segreview.inference.predict import predict
from napari_segreview.training.loop import TrainConfig
from napari_segreview.training.progress import Reporter
from napari_segreview.training.run import fine_tune
from napari_segreview.training.save import file_sha256
from toys import CARD, build_toy, files_in, make_export, save_formats, toy_case

CFG = dict(steps=6, lr=0.05, eval_every=3, batch_size=2, threads=1)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return make_export(tmp_path_factory.mktemp("save") / "export", 3)


@pytest.mark.parametrize("fmt", ["factory", "torchscript", "traced", "export"])
def test_each_format_reloads_and_predicts(export, tmp_path, fmt):
    models = save_formats(tmp_path / "m", norm=(fmt != "factory"), dropout=(fmt != "factory"))
    base = models[fmt]
    base_sha = file_sha256(base)
    factory = build_toy if fmt == "factory" else None
    events = []
    result = fine_tune(export, base, factory=factory, config=TrainConfig(**CFG),
                       reporter=Reporter(callback=events.append))
    new = result.paths["model"]
    assert new == base.with_name(f"{base.stem}_v2{base.suffix}")  # beside it, versioned
    assert file_sha256(base) == base_sha  # the base is never touched
    warned = [e["message"] for e in events if e["event"] == "warning"]
    if fmt in ("traced", "export"):
        assert any("dropout and batch-norm stay as they were exported" in w for w in warned)
    else:
        assert not any("dropout" in w for w in warned)
    model = load_model(new, factory=factory)
    card = load_card(find_card(new))
    assert card.to_dict() == CARD.to_dict()
    assert "Fine-tuned by segreview train from " + base.name in find_card(new).read_text()
    img, _, _ = toy_case(99)
    out = predict(img, model, card, device="cpu")
    assert out.heads["cls"].decision.shape == img.shape
    # the saved weights are the trained ones: the same logits as the model in memory
    x = torch.from_numpy(img[:2, None])
    trained = result.record["dice"]["after"]
    assert trained is not None
    if fmt == "factory":
        sd = torch.load(new, weights_only=True)  # a plain state dict
        ref = build_toy()
        ref.load_state_dict(sd)
        assert torch.allclose(ref.eval()(x), model(x), atol=1e-6)
        assert not torch.equal(sd["head.weight"], torch.load(base, weights_only=True)[
            "head.weight"])
    record = json.loads(result.paths["training_json"].read_text())
    assert record["base_model"]["sha256"] == base_sha and record["base_model"]["format"] == fmt


def test_trained_weights_differ_from_the_base_for_programs(export, tmp_path):
    models = save_formats(tmp_path / "m")
    result = fine_tune(export, models["export"], config=TrainConfig(**CFG))
    x = torch.from_numpy(toy_case(5)[0][:2, None])
    base = load_model(models["export"])
    new = load_model(result.paths["model"])
    assert not torch.allclose(base(x), new(x))


def test_training_json_records_the_run(export, tmp_path):
    models = save_formats(tmp_path / "m")
    result = fine_tune(export, models["torchscript"], config=TrainConfig(**CFG, seed=7))
    rec = json.loads(result.paths["training_json"].read_text())
    for key in ("base_model", "export", "cases", "held_out", "hyperparameters", "evaluations",
                "loss_history", "dice", "device", "duration_s", "seed", "program"):
        assert key in rec, key
    assert rec["held_out"] == ["case_2"] and rec["cases"] == ["case_0", "case_1"]
    assert rec["seed"] == 7 and rec["hyperparameters"]["lr"] == 0.05
    assert set(rec["dice"]["per_case"]) == {"case_2"}
    assert rec["dice"]["per_case"]["case_2"]["fg"][1] == pytest.approx(rec["dice"]["after"]["fg"])
    assert rec["losses"]["fg"]["loss"] == "BCEWithLogitsLoss"
    assert rec["losses"]["cls"]["loss"] == "CrossEntropyLoss(ignore_index=255)"


def test_the_base_is_never_overwritten(export, tmp_path):
    models = save_formats(tmp_path / "m")
    base = models["torchscript"]
    with pytest.raises(FormatError, match="never overwritten"):
        fine_tune(export, base, out=base, config=TrainConfig(**CFG))
    (tmp_path / "m" / "taken.pt").write_bytes(b"x")
    with pytest.raises(FormatError, match=r"taken.pt already exists"):
        fine_tune(export, base, out=tmp_path / "m" / "taken.pt", config=TrainConfig(**CFG))


def test_a_full_disk_while_saving_leaves_nothing(export, tmp_path, monkeypatch):
    models = save_formats(tmp_path / "m")
    before = files_in(tmp_path / "m")
    real = util_files.Staging.write
    calls = []

    def failing(self, name, write):
        calls.append(name)
        if len(calls) == 2:  # the model went in; the card hits a full disk half-way
            with open(self.path / name, "xb") as fh:
                fh.write(b"# half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, name, write)

    monkeypatch.setattr(util_files.Staging, "write", failing)
    with pytest.raises(FormatError, match=r"No space left on device.*nothing was written") as err:
        fine_tune(export, models["torchscript"], config=TrainConfig(**CFG))
    assert "\n" not in str(err.value)
    assert files_in(tmp_path / "m") == before  # no model, no card, no hidden staging folder
    assert np.array_equal(len(calls), 2)
