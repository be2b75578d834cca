"""The Review panel: check masks against their hierarchy, fix them, compare them with the model.

Modules: :mod:`.widget` (the dock widget), :mod:`.masks` (which masks: a Predict run or
layers by hand), :mod:`.findings` (the findings table), :mod:`.fixpanel` (fix buttons,
priority, paint), :mod:`.overlap` (the overlap view), :mod:`.edits` (noticing edits),
:mod:`.qa_table` (the QA tables) and :mod:`.sets` (the review set of layers and what the
worker runs, no Qt).
"""

from napari_segreview._napari.review.widget import ReviewWidget

__all__ = ["ReviewWidget"]
