"""The Convert panel: binary mask layers <-> one label map or atoms.

Modules: :mod:`.widget` (the dock widget) and :mod:`.work` (what it computes, no Qt).
"""

from napari_segreview._util.lazy import attach

# The widget loads on first use: importing a helper module of the panel stays light.
__getattr__, __dir__, __all__ = attach(__name__, {"widget": ["ConvertWidget"]})
