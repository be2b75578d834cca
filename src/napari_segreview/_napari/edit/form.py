"""The Edit panel's controls: the painting box and the effects box (widgets only, no actions).

:class:`PaintBox` holds the intensity range (with presets from the CT
windows), the magic wand and the hierarchy toggle; :class:`EffectBox` the
effect, where it acts and its parameters, showing only the parameters the
chosen effect takes (:data:`PARAMS`).
"""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_segreview._napari.edit.effects import EFFECT_LABELS
from napari_segreview.editing.paint import range_presets

__all__ = ["PARAMS", "EffectBox", "PaintBox"]

#: Which parameter rows each effect shows.
PARAMS = {
    "interpolate": ("keys",),
    "keep-largest": ("connectivity",),
    "remove-small": ("mm3", "voxels", "connectivity"),
    "keep-at": ("connectivity",),
    "split": ("connectivity",),
    "fill-holes": ("per_slice",),
    "smooth": ("method", "mm"),
    "grow": ("mm",),
    "shrink": ("mm",),
    "copy": ("modifier",),
    "union": ("modifier",),
    "intersect": ("modifier",),
    "subtract": ("modifier",),
    "invert": (),
    "clear": (),
}
#: Text of the preset entry that takes the image layer's contrast limits.
FROM_IMAGE = "the image's window"


def _spin(low: float, high: float, value: float, step: float = 1.0, decimals: int = 0,
          suffix: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(low, high)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    if suffix:
        s.setSuffix(suffix)
    return s


class PaintBox(QGroupBox):
    """Intensity range, magic wand and hierarchy toggle for napari's own brush."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Painting (napari's brush, fill, polygon)", parent)
        self.limit = QCheckBox("Only intensities in range (Shift+I)")
        self.low = _spin(-100000, 100000, 200, 10, suffix=" HU")
        self.high = _spin(-100000, 100000, 3000, 10, suffix=" HU")
        self.preset = QComboBox()
        self.preset.addItem("preset...", None)
        for name, lim in range_presets().items():
            self.preset.addItem(f"{name} ({lim[0]:g}..{lim[1]:g})", lim)
        self.preset.addItem(FROM_IMAGE, "image")
        self.wand = QCheckBox("Magic wand: click to fill (Shift+W)")
        self.tolerance = _spin(0, 100000, 100, 10, suffix=" HU")
        self.wand_3d = QCheckBox("in 3-D")
        self.hierarchy = QCheckBox("Follow the card's rules (Shift+H)")
        self.hierarchy.setToolTip("Painting a part paints its parent; erasing the parent erases "
                                  "its parts; painting a class clears its siblings.")
        rng = QHBoxLayout()
        rng.addWidget(self.low)
        rng.addWidget(self.high)
        wand = QHBoxLayout()
        wand.addWidget(self.tolerance)
        wand.addWidget(self.wand_3d)
        form = QFormLayout(self)
        form.addRow(self.limit)
        form.addRow("Range:", rng)
        form.addRow("Preset:", self.preset)
        form.addRow(self.wand)
        form.addRow("Tolerance:", wand)
        form.addRow(self.hierarchy)

    def use_preset(self, index: int, image_limits: tuple[float, float] | None) -> None:
        """Set the range from preset ``index`` (the image's window: ``image_limits``)."""
        lim = self.preset.itemData(index)
        if lim == "image" or self.preset.itemText(index) == FROM_IMAGE:
            lim = image_limits
        if lim is None:
            return
        self.low.setValue(float(lim[0]))
        self.high.setValue(float(lim[1]))


class EffectBox(QGroupBox):
    """The effect, where it acts, its parameters, and Run / Apply / Cancel."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Effects (one Ctrl+Z undoes each)", parent)
        self.effect = QComboBox()
        for name, text in EFFECT_LABELS.items():
            self.effect.addItem(text, name)
        self.where = QComboBox()
        for text, value in (("whole volume", "volume"), ("this slice", "slice"),
                            ("slab around this slice", "slab")):
            self.where.addItem(text, value)
        self.thickness = QSpinBox()
        self.thickness.setRange(1, 999)
        self.thickness.setValue(5)
        self.thickness.setSuffix(" slices")
        self.selected_only = QCheckBox("only the selected label (label maps)")
        self.selected_only.setChecked(True)
        self.mm = _spin(0, 1000, 1.0, 0.5, 2, " mm")
        self.mm3 = _spin(0, 1e9, 0.0, 10, 1, " mm³")
        self.voxels = QSpinBox()
        self.voxels.setRange(0, 2**31 - 1)
        self.voxels.setValue(100)
        self.voxels.setSuffix(" voxels")
        self.connectivity = QComboBox()
        self.connectivity.addItem("26 (faces, edges, corners)", 26)
        self.connectivity.addItem("6 (faces)", 6)
        self.method = QComboBox()
        self.method.addItems(["median", "opening", "closing", "gaussian"])
        self.per_slice = QCheckBox("slice by slice")
        self.keys = QLineEdit()
        self.keys.setPlaceholderText("key slices, e.g. 3, 9, 15 (empty: every painted slice)")
        self.my_corrections = QPushButton("My corrections")
        self.my_corrections.setToolTip("The slices you corrected: where the layer differs from "
                                       "the model's prediction.")
        self.modifier = QComboBox()
        self.run_button = QPushButton("Preview (Shift+P)")
        self.apply_button = QPushButton("Apply (Shift+A)")
        self.cancel_button = QPushButton("Cancel (Shift+C)")
        keys = QHBoxLayout()
        keys.addWidget(self.keys, 1)
        keys.addWidget(self.my_corrections)
        where = QHBoxLayout()
        where.addWidget(self.where, 1)
        where.addWidget(self.thickness)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.apply_button, self.cancel_button):
            buttons.addWidget(b)
        self.form = QFormLayout(self)
        self.form.addRow("Effect:", self.effect)
        self.form.addRow("Where:", where)
        self.form.addRow(self.selected_only)
        self._rows = {"mm": self.mm, "mm3": self.mm3, "voxels": self.voxels,
                      "connectivity": self.connectivity, "method": self.method,
                      "per_slice": self.per_slice, "modifier": self.modifier}
        self._keys = QWidget()
        self._keys.setLayout(keys)
        self._rows["keys"] = self._keys
        titles = {"mm": "Distance:", "mm3": "Smaller than:", "voxels": "or fewer than:",
                  "connectivity": "Neighbours:", "method": "Method:", "per_slice": "",
                  "modifier": "Other layer:", "keys": "Key slices:"}
        for name, w in self._rows.items():
            self.form.addRow(titles[name], w)
        self.form.addRow(buttons)
        self.effect.currentIndexChanged.connect(self._effect_changed)
        self.where.currentIndexChanged.connect(self._effect_changed)
        self._effect_changed()

    def current(self) -> str:
        """The chosen effect's core name."""
        return self.effect.currentData()

    def set_effect(self, name: str) -> None:
        """Choose an effect by its core name."""
        self.effect.setCurrentIndex(self.effect.findData(name))

    def _effect_changed(self, *_args) -> None:
        shown = PARAMS.get(self.current(), ())
        for name, w in self._rows.items():
            visible = name in shown
            w.setVisible(visible)
            label = self.form.labelForField(w)
            if label is not None:
                label.setVisible(visible)
        self.thickness.setVisible(self.where.currentData() == "slab")
        slice_ = self.where.currentData() == "slice"
        self.run_button.setText("Run (Shift+P)" if slice_ else "Preview (Shift+P)")
