"""What the Fine-tune panel takes from, and gives to, the rest of the window.

* :func:`predict_model`: the model, card and factory the Predict panel holds
  (or, with no Predict panel, the model recorded on the decision layers,
  ``metadata["segreview"]["model"]``, with the card found beside it);
* :func:`use_model`: switch the Predict panel (opened if needed) to a model;
* :func:`export_cases`: the case names of an export folder, for the
  held-out choices (a directory listing; nothing is read);
* :func:`dataset_exporter`: the hook for a dataset folder as the source: the
  dataset package's ``export_done`` once it exists, else None;
  :func:`is_dataset_folder` says whether a folder is a dataset;
  :func:`done_export_folder` is where its done cases are exported.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_segreview._napari._compat import main_window
from napari_segreview._napari._meta import layers_of
from napari_segreview.card.spec import find_card
from napari_segreview.targets.export import MANIFEST, is_export

__all__ = ["PREDICT", "dataset_exporter", "done_export_folder", "export_cases", "find_predict",
           "is_dataset_folder", "predict_model", "use_model"]

#: The Predict panel's display name in napari.yaml.
PREDICT = "Predict"


def find_predict(viewer: Any) -> Any:
    """The Predict panel docked in ``viewer``'s window, or None."""
    from napari_segreview._napari.predict.widget import PredictWidget

    window = main_window(viewer)
    if window is None:
        return None
    found = window.findChildren(PredictWidget)
    return found[0] if found else None


def predict_model(viewer: Any) -> tuple[str, str | None, str | None] | None:
    """``(model, card, factory)`` of the Predict panel, else of the decision layers; or None."""
    panel = find_predict(viewer)
    if panel is not None and panel.model_path.text().strip():
        return (panel.model_path.text().strip(), panel.card_path.text().strip() or None,
                panel.factory.text().strip() or None)
    for layer in reversed(list(layers_of(viewer.layers, kind="decision"))):
        model = layer.metadata["segreview"].get("model")
        if model and Path(model).is_file():
            card = find_card(model)
            return model, None if card is None else str(card), None
    return None


def use_model(viewer: Any, model: str, card: str | None = None,
              factory: str | None = None) -> Any:
    """Switch the Predict panel (docked now if it is not) to ``model``; returns the panel."""
    panel = find_predict(viewer)
    if panel is None:
        _, panel = viewer.window.add_plugin_dock_widget("napari-segreview", PREDICT)
    panel.set_model(model, card=card, factory=factory)
    return panel


def export_cases(folder: str | os.PathLike) -> list[str]:
    """The complete cases of an export folder, in name order ([] if it is not one).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     export_cases(d)
    []
    """
    folder = Path(folder)
    if not folder.is_dir() or not is_export(folder):
        return []
    nnunet = folder / "manifests"
    if nnunet.is_dir():
        return sorted(p.stem for p in nnunet.glob("*.json"))
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())


def dataset_exporter() -> Callable[..., Any] | None:
    """``export_done(dataset, out)`` of the dataset package when it has one, else None.

    The hook for a dataset folder as the Fine-tune source: its done cases are
    exported first, then trained on.
    """
    try:
        module = importlib.import_module("napari_segreview.dataset.export")
    except ImportError:
        return None
    return getattr(module, "export_done", None)


def is_dataset_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a SegReview dataset (False while the dataset package has none).

    Examples
    --------
    >>> is_dataset_folder("/nonexistent/folder")
    False
    """
    try:
        module = importlib.import_module("napari_segreview.dataset.manifest")
    except ImportError:
        return False
    check = getattr(module, "is_dataset", None)
    return bool(check is not None and check(folder))


def done_export_folder(dataset: str | os.PathLike) -> Path:
    """A new folder for a dataset's done cases: ``<dataset>/exports/done-<date-time>``.

    Examples
    --------
    >>> done_export_folder("ds").parent.as_posix()
    'ds/exports'
    """
    return Path(dataset) / "exports" / time.strftime("done-%Y%m%d-%H%M%S")
