"""The Export panel, and napari's reader and writers of training-target exports.

Modules: :mod:`.widget` (the dock widget), :mod:`.case` (the chosen layers -> one export
case, no Qt) and :mod:`.io` (the export reader and the label-map / multi-hot writers
napari.yaml names, no Qt).
"""

from napari_segreview._napari.export.widget import ExportWidget

__all__ = ["ExportWidget"]
