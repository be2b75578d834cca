"""Dock widget: the Edit panel (under construction)."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class EditWidget(QWidget):
    """The Edit panel."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        QVBoxLayout(self).addWidget(QLabel("Edit: under construction"))
