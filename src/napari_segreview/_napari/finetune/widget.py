"""Dock widget: the Fine-tune panel (under construction)."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class FinetuneWidget(QWidget):
    """The Fine-tune panel."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        QVBoxLayout(self).addWidget(QLabel("Fine-tune: under construction"))
