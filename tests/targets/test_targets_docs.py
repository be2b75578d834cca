"""The training-loop snippets of docs/exporting-training-targets.md run on a tiny export."""

import re
from pathlib import Path

import pytest

from napari_segreview.cli import main
from napari_segreview.data import demo_card_path
from napari_segreview.data.phantom import make_ct_phantom
from napari_segreview.io.arrayfiles import ArrayMeta, write_array

torch = pytest.importorskip("torch")
DOC = Path(__file__).parents[2] / "docs" / "exporting-training-targets.md"
SNIPPETS = re.findall(r"```python\n(# training loop: [^\n]+\n.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_one_snippet_per_head_kind():
    titles = [s.splitlines()[0] for s in SNIPPETS]
    assert titles == ["# training loop: softmax head", "# training loop: sigmoid head",
                      "# training loop: composite head"]


@pytest.fixture
def exports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for seed in (0, 1):
        ph = make_ct_phantom((2, 24, 24) if seed else (3, 24, 24), seed=seed)
        write_array(f"scan{seed}.tif", ph.image, ArrayMeta(spacing=ph.spacing))
        write_array(f"whole{seed}.tif", ph.masks[:1], ArrayMeta("multihot", ("whole",)))
        write_array(f"parts{seed}.tif", ph.parts, ArrayMeta("labels"))
        write_array(f"masks{seed}.tif", ph.masks, ArrayMeta("multihot", ph.names))
        assert main(["export", f"scan{seed}.tif", "--card", str(demo_card_path()),
                     "--target", f"whole=whole{seed}.tif", "--target",
                     f"parts=parts{seed}.tif", "-o", "export"]) == 0
        assert main(["export", f"scan{seed}.tif", "--sigmoid", f"masks{seed}.tif",
                     "-o", "export-multihot"]) == 0
    return tmp_path


@pytest.mark.parametrize("index", range(3))
def test_snippet_runs_and_trains(exports, index):
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(SNIPPETS[index], f"{DOC.name}[{index}]", "exec"), namespace)
    loss = namespace["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    # the gradient reached the model: one step changed its weights
    assert namespace["model"].weight.grad is not None
