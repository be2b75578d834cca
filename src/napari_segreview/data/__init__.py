"""Package data: the demo model trained on the CT phantom, its card and its metrics.

The files are written by ``scripts/train_demo_model.py`` and ship inside the
wheel; these helpers find them through :mod:`importlib.resources`, so they
work from a checkout, an editable install and an installed wheel alike.
Nothing here imports torch.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["demo_card_path", "demo_metrics_path", "demo_model_path"]

_STEM = "demo_bone"


def _data_file(name: str) -> Path:
    path = Path(str(files(__name__) / name))
    if not path.is_file():
        raise FileNotFoundError(
            f"the demo file {name} is missing from {path.parent}; run "
            "scripts/train_demo_model.py or reinstall napari-segreview."
        )
    return path


def demo_model_path() -> Path:
    """Path of the demo model, a TorchScript file (``demo_bone.pt``).

    Examples
    --------
    >>> demo_model_path().name
    'demo_bone.pt'
    """
    return _data_file(f"{_STEM}.pt")


def demo_card_path() -> Path:
    """Path of the demo model's card (``demo_bone.card.yaml``), beside the model.

    Examples
    --------
    >>> demo_card_path().parent == demo_model_path().parent
    True
    """
    return _data_file(f"{_STEM}.card.yaml")


def demo_metrics_path() -> Path:
    """Path of the demo model's held-out per-channel Dice (``demo_bone.metrics.json``).

    Examples
    --------
    >>> import json
    >>> sorted(json.loads(demo_metrics_path().read_text())["dice"])
    ['part_1', 'part_2', 'part_3', 'whole']
    """
    return _data_file(f"{_STEM}.metrics.json")
