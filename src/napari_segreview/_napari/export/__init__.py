"""The Export panel, and napari's reader and writers of training-target exports.

Modules: :mod:`.widget` (the dock widget), :mod:`.case` (the chosen layers -> one export
case, no Qt) and :mod:`.io` (the export reader and the label-map / multi-hot writers
napari.yaml names, no Qt).
"""

from napari_segreview._util.lazy import attach

# The widget loads on first use: importing a helper module of the panel stays light.
__getattr__, __dir__, __all__ = attach(__name__, {"widget": ["ExportWidget"]})
