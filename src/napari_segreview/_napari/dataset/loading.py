"""One case of a dataset as napari layer data: read off the GUI thread, no Qt used.

:func:`load_case` is what the Dataset panel runs in a worker (for the case it
opens, and to prefetch the next one):

* the image, through the reader napari uses (:func:`napari_segreview.io.read.read_image`
  and :func:`~napari_segreview.io.read.display_window`), with its spacing and
  origin, named after the case id;
* when the case has a review session (``cases/<id>/session.segreview``), its
  layers as they were last autosaved (:func:`~napari_segreview._napari.session.reader.
  session_layer_data`: the corrections, with the kept prediction);
* else the prediction files (``cases/<id>/prediction``, as ``segreview
  predict`` wrote them) as the layers the Predict panel makes
  (:func:`~napari_segreview._napari.predict.layers.prediction_layers`: the
  same names, colours, scale and ``segreview`` metadata, with the model's
  decision kept as ``prediction``), so Review, QA, Convert and Export work on
  them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from napari_segreview._napari._meta import KEY
from napari_segreview._napari.predict.layers import prediction_layers
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import read_array
from napari_segreview.io.results import head_file_name
from napari_segreview.session.format import is_session

__all__ = ["CaseLayers", "load_case", "prediction_from_files"]

#: The formats ``segreview predict`` writes, in the order they are looked for.
FORMATS = ("tif", "npz", "npy")


@dataclass
class CaseLayers:
    """What the panel adds for one case.

    Attributes
    ----------
    case_id : str
    image : tuple
        The image's napari LayerData tuple ``(data, kwargs, "image")``.
    layers : list of tuple
        The prediction's (or the session's) LayerData tuples, drawn over the image.
    session_dir : Path
        The case's review session folder.
    restored : bool
        True when ``layers`` come from the case's session (autosave re-attaches
        to it), False when they come from the prediction files (a new session
        is created).
    """

    case_id: str
    image: tuple
    layers: list[tuple] = field(default_factory=list)
    session_dir: Path = Path()
    restored: bool = False


def _find(folder: Path, head: str, probabilities: bool = False) -> Path | None:
    for fmt in FORMATS:
        p = folder / head_file_name(head, fmt, probabilities=probabilities)
        if p.is_file():
            return p
    return None


def prediction_from_files(folder: str | Path, card: ModelCard) -> Any:
    """A prediction read back from the files ``segreview predict`` wrote into ``folder``.

    An object with ``card`` and ``heads`` (per head: ``head``, ``decision``,
    ``probabilities`` or None), what
    :func:`~napari_segreview._napari.predict.layers.prediction_layers` takes.

    Raises
    ------
    FormatError
        When a head's file is missing.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from napari_segreview.io.arrayfiles import write_array
    >>> from napari_segreview.io.results import head_file
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]}]})
    >>> d = Path(tempfile.mkdtemp())
    >>> mask = np.ones((1, 2, 3), np.uint8)
    >>> write_array(d / "whole.tif", *head_file("sigmoid", ["whole"], mask))
    >>> p = prediction_from_files(d, card)
    >>> p.heads["whole"].decision.shape, p.heads["whole"].probabilities
    ((1, 2, 3), None)
    """
    folder = Path(folder)
    heads: dict[str, Any] = {}
    for head in card.heads:
        path = _find(folder, head.name)
        if path is None:
            raise FormatError(f"{folder} has no {head.name}.tif (the prediction of the head "
                              f"{head.name!r}); run the prediction for this case again.")
        decision, _ = read_array(path)
        probs = _find(folder, head.name, probabilities=True)
        heads[head.name] = SimpleNamespace(
            head=head, decision=decision,
            probabilities=None if probs is None else read_array(probs)[0])
    return SimpleNamespace(card=card, heads=heads, warnings=[])


def _image(source: str, name: str) -> tuple:
    from napari_segreview.io.read import display_window, read_image

    data, kwargs, kind = display_window(read_image(source), lazy=True).layer_data()
    return data, {**kwargs, "name": name}, kind


def load_case(manifest: Any, case_id: str) -> CaseLayers:
    """Read case ``case_id`` of ``manifest``: its image and its session's or prediction's layers.

    Raises
    ------
    ReadError, FormatError, SessionError
        The image, the prediction files or the session cannot be read (one sentence).
    """
    from napari_segreview._napari.session.reader import session_layer_data

    case = manifest.case(case_id)
    image = _image(case.source, case.id)
    folder = manifest.session_dir(case_id)
    if is_session(folder):
        _, tuples = session_layer_data(folder)
        layers = [t for t in tuples  # the session's own copy of an image: opened above
                  if not (t[2] == "image" and "session" not in
                          ((t[1].get("metadata") or {}).get(KEY) or {}))]
        return CaseLayers(case_id, image, layers, folder, restored=True)
    card = ModelCard.from_dict(manifest.card)
    kw = image[1]
    layers = prediction_layers(prediction_from_files(manifest.prediction_dir(case_id), card),
                               image_name=case.id, model_path=manifest.model or "model",
                               scale=kw.get("scale"), translate=kw.get("translate"))
    return CaseLayers(case_id, image, layers, folder, restored=False)
