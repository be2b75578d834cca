"""Dock widget: the Edit panel (docs/editing-tools.md).

It works on the active Labels layer. Painting (:mod:`.painting`, :mod:`.linking`)
changes how napari's own brush, fill and polygon act: limited to an intensity
range of the image, a magic wand, and the card's rules followed while
painting. Effects (:mod:`.effects`) run the core functions of
:mod:`napari_segreview.editing` in a worker thread; on a slice they apply at
once, on a slab or the volume a preview layer (:mod:`.preview`) first (Apply /
Cancel). An applied effect is one undo step, autosaved and re-checked by Review
like a brush stroke. Key bindings: :mod:`.keys`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from napari_segreview._napari._compat import unwrap_viewer
from napari_segreview._napari._panel import failure_text, scroll_panel, show_failure
from napari_segreview._napari.edit import keys
from napari_segreview._napari.edit.effects import (
    EffectRequest,
    apply_result,
    compute,
    corrected_slices_of,
)
from napari_segreview._napari.edit.form import EffectBox, PaintBox
from napari_segreview._napari.edit.linking import HierarchyLink
from napari_segreview._napari.edit.painting import PaintLimit, wand_click
from napari_segreview._napari.edit.preview import (
    PREVIEW_NAME,
    drop_preview,
    show_preview,
    sync_names,
)
from napari_segreview._napari.edit.request import build_request
from napari_segreview.editing.paint import IntensityRange
from napari_segreview.errors import FormatError

if TYPE_CHECKING:
    import napari

__all__ = ["PREVIEW_NAME", "EditWidget"]


class EditWidget(QWidget):
    """Painting modes and effects for the active Labels layer.

    Script use: set :attr:`image` and the boxes' controls, then
    :meth:`run_effect` (waits on :attr:`previewed` or, on a slice,
    :attr:`applied`), :meth:`apply_preview`, :meth:`cancel_preview`,
    :meth:`wand_at`.
    """

    previewed = Signal(object)   # EditResult, its preview layer shown
    applied = Signal(object)     # EditResult, written to the layer
    failed = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        # The real viewer, not the plugin proxy: the painting hooks go on the real layers.
        self.viewer = unwrap_viewer(napari_viewer)
        self.limit = PaintLimit()
        self.link = HierarchyLink(self.viewer)
        self.pending: tuple[Any, Any] | None = None   # (layer, EditResult) awaiting Apply
        self._worker: Any = None
        self._target: Any = None
        layout = scroll_panel(self)
        self.target_label = QLabel()
        self.target_label.setWordWrap(True)
        self.image = QComboBox()
        top = QFormLayout()
        top.addRow("Image:", self.image)
        layout.addWidget(self.target_label)
        layout.addLayout(top)
        self.paint = PaintBox()
        self.effects = EffectBox()
        layout.addWidget(self.paint)
        layout.addWidget(self.effects)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self._connect()
        self._layers_changed()
        self.key_bindings = keys.bind(self.viewer, self)
        # A dock closed without a closeEvent: still give napari its own painting back.
        limit, link, viewer, bound = self.limit, self.link, self.viewer, self.key_bindings
        self.destroyed.connect(lambda *_: (limit.detach(), link.unlink(),
                                           keys.unbind(viewer, bound)))

    def _connect(self) -> None:
        p, e = self.paint, self.effects
        p.limit.toggled.connect(self._limit_changed)
        p.low.valueChanged.connect(self._range_changed)
        p.high.valueChanged.connect(self._range_changed)
        p.preset.activated.connect(self._preset)
        p.hierarchy.toggled.connect(self._hierarchy_changed)
        p.wand.toggled.connect(lambda on: keys.wand_on(self, on))
        e.run_button.clicked.connect(self.run_effect)
        e.apply_button.clicked.connect(self.apply_preview)
        e.cancel_button.clicked.connect(self.cancel_preview)
        e.my_corrections.clicked.connect(self.use_my_corrections)
        self.image.currentIndexChanged.connect(lambda *_: self._retarget(force=True))
        ev = self.viewer.layers.events
        for name in ("inserted", "removed", "reordered"):
            getattr(ev, name).connect(self._layers_changed)
        self.viewer.layers.selection.events.active.connect(lambda *_: self._retarget())
        self._set_pending(None)

    @property
    def target(self) -> Labels | None:
        """The Labels layer the panel edits (the active layer, or the last one active)."""
        active = self.viewer.layers.selection.active
        if isinstance(active, Labels) and active.name != PREVIEW_NAME:
            return active
        t = self._target
        return t if t is not None and t in self.viewer.layers else None

    def image_layer(self) -> Image | None:
        name = self.image.currentText()
        return next((x for x in self.viewer.layers if isinstance(x, Image) and x.name == name),
                    None)

    def _layers_changed(self, *_args: Any) -> None:
        images = [x.name for x in self.viewer.layers if isinstance(x, Image)]
        mods = [x.name for x in self.viewer.layers if isinstance(x, Labels)
                and x.name != PREVIEW_NAME]
        sync_names(self.image, images)
        sync_names(self.effects.modifier, mods)
        self._retarget(force=True)

    def _retarget(self, force: bool = False) -> None:
        t = self.target
        if t is self._target and not force:
            return
        self.limit.detach()
        self.link.unlink()
        self._target = t
        self.target_label.setText(f"Editing {t.name!r}." if t is not None else
                                  "Select a Labels layer to edit.")
        self._limit_changed(self.paint.limit.isChecked())
        self._hierarchy_changed(self.paint.hierarchy.isChecked())
        keys.wand_on(self, self.paint.wand.isChecked())

    def current_range(self) -> IntensityRange:
        return IntensityRange(self.paint.low.value(), self.paint.high.value())

    def _limit_changed(self, on: bool) -> None:
        t = self.target
        self.limit.detach()
        if not on or t is None:
            return
        try:
            self.limit.set_range(self.current_range())
            self.limit.attach(t, self.image_layer())
        except FormatError as exc:
            self._fail(exc)
            return
        r = self.limit.range
        self.status.setText(f"Painting on {t.name!r} changes only voxels from {r.low:g} to "
                            f"{r.high:g}.")

    def _range_changed(self, *_args: Any) -> None:
        try:
            self.limit.set_range(self.current_range())
        except FormatError as exc:
            self._fail(exc)

    def _preset(self, index: int) -> None:
        img = self.image_layer()
        self.paint.use_preset(index, None if img is None else tuple(img.contrast_limits))

    def _hierarchy_changed(self, on: bool) -> None:
        t = self.target
        self.link.unlink()
        self.link.enabled = bool(on and t is not None)
        if self.link.enabled:
            self.status.setText(self.link.link(t))

    def wand_at(self, point: tuple[float, ...]) -> int:
        """Magic wand at ``point`` (data coordinates of the target layer); voxels painted."""
        t = self.target
        if t is None:
            return 0
        rng = self.limit.range if self.paint.limit.isChecked() else None
        try:
            n = wand_click(t, self.image_layer(), point, value=int(t.selected_label),
                           tolerance=self.paint.tolerance.value(), rng=rng,
                           volume=self.paint.wand_3d.isChecked(),
                           displayed=tuple(self.viewer.dims.displayed))
        except FormatError as exc:
            self._fail(exc)
            return 0
        self.status.setText(f"Magic wand: {n:,} voxels set to {int(t.selected_label)}.")
        return n

    def request(self) -> EffectRequest:
        """The effect the controls describe, on a snapshot of the target layer."""
        return build_request(self.viewer, self.target, self.effects)

    def run_effect(self) -> Any:
        """Compute the chosen effect in a worker; a slice applies at once, else a preview."""
        if self._worker is not None:
            self.status.setText("An effect is being computed; wait for it or press Cancel.")
            return self._worker
        try:
            req = self.request()
        except FormatError as exc:
            self._fail(exc)
            return None
        layer = self.target
        self.cancel_preview()
        worker = create_worker(compute, req, _progress={"desc": f"Edit: {req.effect}"},
                               _start_thread=False, _connect={"errored": self._fail})
        worker.returned.connect(lambda res: self._computed(layer, req, res))
        worker.finished.connect(lambda: setattr(self, "_worker", None))
        self._worker = worker
        worker.start()
        return worker

    def _computed(self, layer: Labels, req: EffectRequest, result: Any) -> None:
        if layer not in self.viewer.layers:
            return
        if req.where == "slice":
            self._apply(layer, result)
            return
        show_preview(self.viewer, layer, req.data, result)
        self._set_pending((layer, result))
        self.status.setText(f"Preview: {result.message} Apply or Cancel.")
        self.previewed.emit(result)

    def apply_preview(self) -> None:
        """Write the previewed effect to its layer (one undo step) and drop the preview."""
        if self.pending is None:
            return
        layer, result = self.pending
        self._drop_preview()
        if layer in self.viewer.layers:
            self._apply(layer, result)

    def cancel_preview(self) -> None:
        """Drop the preview (and ignore an effect still being computed)."""
        if self._worker is not None or self.pending is not None:
            if self._worker is not None:
                self._worker.returned.disconnect()
            self.status.setText("Effect cancelled; nothing was changed.")
        self._drop_preview()

    def _drop_preview(self) -> None:
        self._set_pending(None)
        drop_preview(self.viewer)

    def _set_pending(self, pending: tuple | None) -> None:
        self.pending = pending
        self.effects.apply_button.setEnabled(pending is not None)

    def _apply(self, layer: Labels, result: Any) -> None:
        try:
            n = apply_result(layer, result)
        except Exception as exc:  # a failing layer must not crash napari
            self._fail(f"the effect could not be applied ({exc}); undo any partial change "
                       "with Ctrl+Z.")
            return
        msg = result.message if n else f"{result.message} Nothing changed."
        self.status.setText(f"{msg} Ctrl+Z undoes it.")
        show_info(msg)
        self.applied.emit(result)

    def use_my_corrections(self) -> list[int]:
        """Fill the key slices with the slices the user corrected (vs the prediction)."""
        t = self.target
        if t is None:
            return []
        axis, _ = keys.slice_axis(self.viewer, t)
        found = corrected_slices_of(t, axis)
        self.effects.keys.setText(", ".join(str(s) for s in found))
        if not found:
            self.status.setText(f"{t.name!r} has no prediction to compare with, or no "
                                "corrections yet: type the key slices.")
        return found

    def _fail(self, exc: BaseException | str) -> None:
        msg = failure_text(exc, "edit", "nothing was changed")
        show_failure(self.status, msg)
        self.failed.emit(msg)

    def closeEvent(self, event: Any) -> None:
        self.limit.detach()
        self.link.unlink()
        keys.unbind(self.viewer, self.key_bindings)
        keys.wand_on(self, False)
        super().closeEvent(event)
