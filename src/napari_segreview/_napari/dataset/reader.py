"""napari's reader of dataset folders: opening one opens the Dataset panel on it.

``get_dataset_reader(path)`` is cheap (:func:`napari_segreview.dataset.manifest.is_dataset`
looks for ``segreview-dataset.json``); the reader adds no layer itself
(napari's empty answer, ``[(None,)]``): it docks the Dataset panel in the
current viewer and shows the dataset's cases there, and the panel opens the
cases one by one (Next).
"""

from __future__ import annotations

from typing import Any

from napari_segreview.dataset.manifest import is_dataset

__all__ = ["NO_LAYERS", "PANEL", "get_dataset_reader", "read_dataset"]

#: What a reader returns when it handled a path but adds no layer.
NO_LAYERS = [(None,)]
#: The Dataset panel's name in napari's plugin menu (napari.yaml's display_name).
PANEL = "Dataset"


def get_dataset_reader(path: Any) -> Any:
    """Return :func:`read_dataset` for a dataset folder (or its manifest), None otherwise.

    Examples
    --------
    >>> get_dataset_reader("/no/such/folder") is None
    True
    """
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    return read_dataset if is_dataset(path) else None


def read_dataset(path: Any) -> list:
    """Dock the Dataset panel in the current viewer and open the dataset ``path`` in it."""
    import napari
    from napari.utils.notifications import show_error

    if isinstance(path, list | tuple):
        path = path[0]
    viewer = napari.current_viewer()
    if viewer is None:
        show_error(f"{path} is a SegReview dataset: open it in a napari window "
                   "(Plugins > SegReview > Dataset).")
        return NO_LAYERS
    _, panel = viewer.window.add_plugin_dock_widget("napari-segreview", PANEL)
    panel.open_dataset(path)
    return NO_LAYERS
