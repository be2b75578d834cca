"""The choices of an export, as plain tuples: cheap to import (the ``segreview`` parser does).

>>> EXPORT_FORMATS, IMAGE_MODES, WEIGHT_METHODS
(('tif', 'npz', 'nnunet'), ('raw', 'normalized'), ('inverse_frequency', 'median_frequency'))
"""

from __future__ import annotations

__all__ = ["EXPORT_FORMATS", "IMAGE_MODES", "WEIGHT_METHODS"]

#: Export formats: TIFF or npz files per case, or an nnU-Net v2 raw dataset.
EXPORT_FORMATS = ("tif", "npz", "nnunet")
#: How the image is stored: as loaded, or normalised as fed to the model.
IMAGE_MODES = ("raw", "normalized")
#: How CrossEntropyLoss class weights are derived from class frequencies.
WEIGHT_METHODS = ("inverse_frequency", "median_frequency")
