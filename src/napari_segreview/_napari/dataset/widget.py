"""Dock widget: the Dataset panel (under construction)."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class DatasetWidget(QWidget):
    """The Dataset panel."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        QVBoxLayout(self).addWidget(QLabel("Dataset: under construction"))
