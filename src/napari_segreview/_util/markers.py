"""The file names that mark a folder as SegReview's: a review session, an export, a dataset.

They live below every package because the image reader (:mod:`napari_segreview.io`)
declines these folders while :mod:`napari_segreview.session` and
:mod:`napari_segreview.targets` write them. Plain strings only: importing this
module costs nothing.

>>> FOLDER_MARKERS
('session.json', 'segreview-export.json', 'dataset.json', 'segreview-dataset.json')
"""

from __future__ import annotations

__all__ = ["DATASET_FILE", "EXPORT_MARKER", "FOLDER_MARKERS", "NNUNET_DATASET", "SESSION_FILE"]

#: The commit point of a review session folder.
SESSION_FILE = "session.json"
#: Written once into the top of an export folder (tif, npz or nnU-Net).
EXPORT_MARKER = "segreview-export.json"
#: nnU-Net v2's description of a raw dataset, written beside the export marker.
NNUNET_DATASET = "dataset.json"
#: The manifest of a SegReview dataset folder (:mod:`napari_segreview.dataset.manifest`).
DATASET_FILE = "segreview-dataset.json"
#: Folders holding one of these belong to other readers (sessions, exports, datasets).
FOLDER_MARKERS = (SESSION_FILE, EXPORT_MARKER, NNUNET_DATASET, DATASET_FILE)
