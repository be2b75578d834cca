"""The Predict panel's CT window control: a preset, or a custom centre and width, in HU.

Display only: the window sets the chosen image layer's contrast limits. The
model does not see it; it sees the image normalised as its card's
``input.normalize`` says. With "keep current contrast" the boxes follow the
image's own contrast instead, so that "custom" starts from what is shown.

A window applies to the image it was chosen for: choosing another image (or
opening one when the chosen image is gone) goes back to "keep current
contrast", so a DICOM series' own window, or any image's contrast, is never
replaced by a window picked for another image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QComboBox, QDoubleSpinBox

from napari_segreview.card.windows import PRESETS, limits_to_window, window_to_limits
from napari_segreview.errors import FormatError

__all__ = ["CUSTOM", "KEEP", "WINDOW_TIP", "WindowControl"]

KEEP, CUSTOM = "keep current contrast", "custom"
WINDOW_TIP = (
    "Display only: sets the image layer's contrast limits (a CT window in HU). The model "
    "does not see this: it sees the image normalised as its card's input.normalize says."
)


class WindowControl:
    """The window combo box (:attr:`combo`) and its :attr:`center`, :attr:`width` boxes.

    Parameters
    ----------
    layer : callable
        Returns the image layer the window applies to; raises FormatError when
        there is none.
    report : callable
        Shows a sentence (the panel's status line).
    fail : callable
        Shows an error sentence.
    """

    def __init__(self, layer: Callable[[], Any], report: Callable[[str], None],
                 fail: Callable[[str], None]):
        self._layer, self._report, self._fail = layer, report, fail
        self.combo = QComboBox()
        self.combo.addItem(KEEP, None)
        for name, (c, w) in PRESETS.items():
            self.combo.addItem(f"{name} ({c:g} / {w:g})", name)
        self.combo.addItem(CUSTOM, CUSTOM)
        self.combo.setToolTip(WINDOW_TIP)
        self.center = QDoubleSpinBox()
        self.center.setRange(-5000, 5000)
        self.center.setValue(40)
        self.width = QDoubleSpinBox()
        self.width.setRange(1, 10000)
        self.width.setValue(400)
        for box, what in ((self.center, "centre"), (self.width, "width")):
            box.setSuffix(" HU")
            box.setDecimals(0)
            box.setToolTip(f"Window {what} for the custom preset. {WINDOW_TIP}")
        self.combo.currentIndexChanged.connect(self._on_window)
        self.center.valueChanged.connect(self._on_custom)
        self.width.valueChanged.connect(self._on_custom)
        self._on_window()

    def set(self, name: str | None, center: float | None = None,
            width: float | None = None) -> None:
        """Choose a preset (``None`` keeps the contrast; ``"custom"`` with values)."""
        if name == CUSTOM and center is not None and width is not None:
            self._set_boxes(center, width)
        self.combo.setCurrentIndex(self.combo.findData(name))
        self._on_window()

    def apply(self) -> None:
        """Set the image layer's contrast limits to the window (display only)."""
        try:
            layer = self._layer()
        except FormatError:
            return
        if layer.rgb:
            self._report(f"CT windows apply to grey images; {layer.name!r} is RGB, so its "
                         "contrast is left as it is.")
            return
        try:
            layer.contrast_limits = window_to_limits(self.center.value(), self.width.value())
        except FormatError as exc:
            self._fail(str(exc))

    def image_changed(self, *_args: Any) -> None:
        """Another image was chosen: keep its contrast, and let the boxes follow it."""
        if self.combo.currentData() is not None:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(self.combo.findData(None))
            self.combo.blockSignals(False)
            self.center.setEnabled(False)
            self.width.setEnabled(False)
        try:
            lo, hi = self._layer().contrast_limits
        except (FormatError, TypeError, ValueError):
            return
        self._set_boxes(*limits_to_window(lo, hi))

    def _on_window(self, *_args: Any) -> None:
        choice = self.combo.currentData()
        custom = choice == CUSTOM
        self.center.setEnabled(custom)
        self.width.setEnabled(custom)
        if choice is None:
            return
        if not custom:
            self._set_boxes(*PRESETS[choice])
        self.apply()

    def _set_boxes(self, center: float, width: float) -> None:
        for box, value in ((self.center, center), (self.width, max(width, 1))):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _on_custom(self, *_args: Any) -> None:
        if self.combo.currentData() == CUSTOM:
            self.apply()
