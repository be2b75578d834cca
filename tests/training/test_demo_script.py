"""scripts/train_demo_model.py trains through napari_segreview.training (one implementation)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from napari_segreview.card.spec import load_card
from napari_segreview.inference.models import load_model
from napari_segreview.inference.predict import predict

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_demo_model.py"


@pytest.mark.slow
def test_a_smoke_run_writes_a_model_that_predicts(tmp_path):
    spec = importlib.util.spec_from_file_location("train_demo_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "napari_segreview.training" in SCRIPT.read_text()  # no loop of its own
    metrics = module.main(["--steps", "2", "--batch", "2", "--crop", "32", "--depth", "2",
                           "--eval-shape", "2", "64", "64", "--threads", "1",
                           "--out", str(tmp_path)])
    assert set(metrics["dice"]) == {"whole", "part_1", "part_2", "part_3"}
    assert json.loads((tmp_path / "demo_bone.metrics.json").read_text())["train"]["steps"] == 2
    model = load_model(tmp_path / "demo_bone.pt")
    card = load_card(tmp_path / "demo_bone.card.yaml")
    out = predict(module.make_ct_phantom((1, 64, 64), seed=3).image, model, card, device="cpu")
    assert out.heads["parts"].decision.shape == (1, 64, 64)
