"""Changes written to a Labels layer as one undo step: the path every SegReview edit takes.

Review fixes, Edit-panel effects, the magic wand and the layers a hierarchy-aware
stroke changes all write their voxels with napari's public
``Labels.data_setitem`` inside ``Labels.block_history``: one Ctrl+Z undoes the
whole change, and the session's history hook journals it like a brush stroke.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["write_as_one_step"]


def write_as_one_step(layer: Any, pieces: Iterable[tuple[tuple, Any]]) -> int:
    """Write each ``(indices, values)`` of ``pieces`` to ``layer`` as one undo step.

    Returns the number of voxels written (pieces with no indices are skipped;
    nothing happens, and no undo step is made, when none is left).

    Examples
    --------
    >>> import numpy as np
    >>> class Layer:  # the two methods of napari's Labels this uses
    ...     data = np.zeros((2, 2), np.uint8)
    ...     def block_history(self):
    ...         import contextlib
    ...         return contextlib.nullcontext()
    ...     def data_setitem(self, idx, value):
    ...         self.data[idx] = value
    >>> layer = Layer()
    >>> write_as_one_step(layer, [((np.array([0]), np.array([1])), 3)])
    1
    >>> layer.data.tolist()
    [[0, 3], [0, 0]]
    """
    pieces = [(idx, vals) for idx, vals in pieces if idx and np.asarray(idx[0]).size]
    if not pieces:
        return 0
    with layer.block_history():
        for idx, vals in pieces:
            layer.data_setitem(idx, vals)
    return sum(int(np.asarray(idx[0]).size) for idx, _ in pieces)
