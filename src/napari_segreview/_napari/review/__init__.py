"""The Review panel: check masks against their hierarchy, fix them, compare them with the model.

Modules: :mod:`.widget` (the dock widget), :mod:`.masks` (which masks: a Predict run or
layers by hand), :mod:`.findings` (the findings table), :mod:`.fixpanel` (fix buttons,
priority, paint), :mod:`.overlap` (the overlap view), :mod:`.edits` (noticing edits),
:mod:`.qa_table` (the QA tables) and :mod:`.sets` (the review set of layers and what the
worker runs, no Qt).
"""

from napari_segreview._util.lazy import attach

# The widget loads on first use: importing a helper module of the panel stays light.
__getattr__, __dir__, __all__ = attach(__name__, {"widget": ["ReviewWidget"]})
