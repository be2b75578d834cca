"""The Predict panel: run a PyTorch model on an image layer, show its decisions as layers.

Modules: :mod:`.widget` (the dock widget), :mod:`.form` (its fields), :mod:`.window`
(the CT window control), :mod:`.job` (the prediction off the GUI thread),
:mod:`.layers` and :mod:`.rerun` (the layers a run adds and which a re-run replaces,
pure) and :mod:`.run` (what the worker runs, what it checks first and the sentences for
its errors, no Qt).
"""

from napari_segreview._util.lazy import attach

# The widget loads on first use: importing a helper module of the panel stays light.
__getattr__, __dir__, __all__ = attach(__name__, {"widget": ["PredictWidget"]})
