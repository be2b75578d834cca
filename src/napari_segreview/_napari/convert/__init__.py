"""The Convert panel: binary mask layers <-> one label map or atoms.

Modules: :mod:`.widget` (the dock widget) and :mod:`.work` (what it computes, no Qt).
"""

from napari_segreview._napari.convert.widget import ConvertWidget

__all__ = ["ConvertWidget"]
