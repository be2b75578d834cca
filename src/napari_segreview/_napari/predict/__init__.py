"""The Predict panel: run a PyTorch model on an image layer, show its decisions as layers.

Modules: :mod:`.widget` (the dock widget), :mod:`.form` (its fields), :mod:`.window`
(the CT window control), :mod:`.job` (the prediction off the GUI thread),
:mod:`.layers` and :mod:`.rerun` (the layers a run adds and which a re-run replaces,
pure) and :mod:`.run` (what the worker runs, what it checks first and the sentences for
its errors, no Qt).
"""

from napari_segreview._napari.predict.widget import PredictWidget

__all__ = ["PredictWidget"]
