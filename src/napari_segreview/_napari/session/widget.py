"""Dock widget: start, save and restore a review session (autosave and recovery).

Thin: the session lives in :mod:`napari_segreview.session.session`, autosave in
:mod:`.controller`. Drive it from a script by setting ``image_combo``,
``folder_edit`` and ``interval_spin`` and calling :meth:`SessionWidget.start`,
:meth:`SessionWidget.save_now`, :meth:`SessionWidget.restore` (returns the
worker; wait for ``restored``) or :meth:`SessionWidget.add_selected`.
:meth:`SessionWidget.open_folder` (the "Open SegReview folder..." button)
opens a session, export or image folder with SegReview's readers, so napari
does not ask which reader to use.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.layers import Image, Labels, Layer
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from napari_segreview._napari._meta import KEY
from napari_segreview._napari._panel import scroll_panel
from napari_segreview._napari._reader import open_folder, prefer_segreview_readers
from napari_segreview._napari.session._autosave import DEFAULT_INTERVAL_S
from napari_segreview._napari.session.reader import (
    already_open,
    create_session,
    finish_restore,
    session_layer_data,
)
from napari_segreview._napari.session.registry import (
    controller_for,
    offer_once,
    on_change,
    restore_offer,
)
from napari_segreview.errors import SessionError
from napari_segreview.session.session import default_folder, is_session

if TYPE_CHECKING:
    import napari


class SessionWidget(QWidget):
    """Start or restore the review session of an image; shows the autosave state.

    Signals: ``restored(str)`` with the folder once restored layers are in the
    viewer and autosave is attached.
    """

    restored = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.setObjectName("SegReviewSessionWidget")
        self.viewer = napari_viewer
        self.image_combo = QComboBox()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("next to the image, or choose a folder")
        self.browse_button = QPushButton("Choose...")
        self.interval_spin = QDoubleSpinBox()
        self.interval_spin.setRange(0.5, 60.0)
        self.interval_spin.setValue(DEFAULT_INTERVAL_S)
        self.interval_spin.setSuffix(" s")
        self.start_button = QPushButton("Start session")
        self.save_button = QPushButton("Save now")
        self.restore_button = QPushButton("Restore")
        self.add_button = QPushButton("Add selected Labels layer")
        self.open_button = QPushButton("Open SegReview folder...")
        self.open_button.setToolTip(
            "Open a review session, a training-target export or an image folder with "
            "SegReview's readers (napari's File > Open Folder asks which reader to use).")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.restore_worker: Any = None
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit)
        folder_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Image", self.image_combo)
        form.addRow("Session folder", folder_row)
        form.addRow("Autosave every", self.interval_spin)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.save_button, self.restore_button):
            buttons.addWidget(b)
        layout = scroll_panel(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.add_button)
        layout.addWidget(self.open_button)
        layout.addWidget(self.status)
        layout.addStretch()
        self.browse_button.clicked.connect(self._browse)
        self.start_button.clicked.connect(self.start)
        self.save_button.clicked.connect(self.save_now)
        self.restore_button.clicked.connect(self.restore)
        self.add_button.clicked.connect(self.add_selected)
        self.open_button.clicked.connect(self._browse_open)
        self.image_combo.currentIndexChanged.connect(self._suggest_folder)
        self.interval_spin.valueChanged.connect(self._set_interval)
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.connect(self._refresh_images)
        self._clock = QTimer(self)
        self._clock.timeout.connect(self.refresh_status)
        self._clock.start(1000)
        on_change(self._on_session_change)  # Start/Restore follow a session at once
        prefer_segreview_readers()  # File > Open Folder on a *.segreview session: no dialog
        self._refresh_images()

    # ------------------------------------------------------------ state

    @property
    def controller(self) -> Any:
        """The viewer's session controller (None before a session is started)."""
        return controller_for(self.viewer)

    def image_layer(self) -> Image | None:
        """The image layer chosen in ``image_combo``."""
        name = self.image_combo.currentText()
        return next((lay for lay in self.viewer.layers
                     if isinstance(lay, Image) and lay.name == name), None)

    def folder(self) -> Path | None:
        """The session folder typed or suggested, None when empty."""
        text = self.folder_edit.text().strip()
        return Path(text).expanduser() if text else None

    def refresh_status(self) -> None:
        """Update the status line: saved N s ago / saving / N unsaved edits."""
        ctl = self.controller
        self.save_button.setEnabled(ctl is not None)
        self.add_button.setEnabled(ctl is not None)
        self.start_button.setEnabled(ctl is None)
        if ctl is None:
            folder = self.folder()
            if folder is not None and is_session(folder):
                self.restore_button.setEnabled(True)
                self.status.setText(f"A session exists in {folder}: click Restore to load it.")
            else:
                self.restore_button.setEnabled(False)
                self.status.setText("No session: choose the image and click Start session.")
            return
        self.restore_button.setEnabled(False)
        n = ctl.unsaved_edits
        if ctl.last_error:
            text = f"Autosave failed ({ctl.last_error}); edits are kept and retried."
        elif ctl.saving:
            text = "saving..."
        elif n:
            text = f"{n} unsaved edit{'s' if n != 1 else ''}"
        elif ctl.last_saved is not None:
            text = f"saved {int(time.monotonic() - ctl.last_saved)} s ago"
        else:
            text = "no edits yet"
        self.status.setText(f"{text} - {len(ctl.layers)} layers in {ctl.session.folder}")

    def _on_session_change(self, viewer: Any) -> None:
        if viewer is self.viewer:
            self.refresh_status()

    def _refresh_images(self, *_args: Any) -> None:
        current = self.image_combo.currentText()
        names = [lay.name for lay in self.viewer.layers if isinstance(lay, Image)]
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems(names)
        if current in names:
            self.image_combo.setCurrentText(current)
        self.image_combo.blockSignals(False)
        if current not in names:
            self._suggest_folder()

    def _suggest_folder(self, *_args: Any) -> None:
        image = self.image_layer()
        path = None if image is None else getattr(image.source, "path", None)
        if path is None or self.controller is not None:
            self.refresh_status()
            return
        folder = default_folder(path)
        self.folder_edit.setText(str(folder))
        if is_session(folder):
            self.offer_restore(folder)
        self.refresh_status()

    def offer_restore(self, folder: Path) -> None:
        """Tell the user a session exists (non-modal, once per viewer) and enable Restore.

        The image reader may have said it already when the image was opened
        (:func:`~.registry.offer_once`): then only the button and the status
        line say it.
        """
        if offer_once(self.viewer, folder):
            show_info(restore_offer(folder))
        self.restore_button.setEnabled(True)

    # ------------------------------------------------------------ actions

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Session folder")
        if folder:
            self.folder_edit.setText(folder)
            self.refresh_status()

    def _browse_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a SegReview folder")
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path) -> list:
        """Open a session, export (or one case) or image folder with SegReview's readers.

        Returns the layers added (none, with one error sentence, for a folder
        that is none of these).
        """
        layers = open_folder(self.viewer, folder)
        self.refresh_status()
        return layers

    def _set_interval(self, value: float) -> None:
        if self.controller is not None:
            self.controller.interval_s = value

    def start(self) -> None:
        """Create a session for the chosen image in the folder; autosave starts."""
        folder = self.folder()
        try:
            if folder is None:
                raise SessionError("this image has no file, so choose a folder for its "
                                   "session first (Choose...).")
            if is_session(folder):
                self.offer_restore(folder)
                raise SessionError(f"{folder} already holds a session; click Restore to "
                                   "continue it, or choose another folder.")
            ctl = create_session(self.viewer, folder, self.image_layer(),
                                 interval_s=self.interval_spin.value())
        except SessionError as exc:
            self.status.setText(str(exc))
            show_error(str(exc))
            return
        ctl.failed.connect(lambda msg: show_warning(f"autosave failed: {msg}"))
        show_info(f"Review session started in {folder}: {len(ctl.layers)} layers, "
                  f"autosave every {ctl.interval_s:g} s.")
        self.refresh_status()

    def save_now(self) -> None:
        """Start saving now (in the background)."""
        if self.controller is not None:
            self.controller.flush()
        self.refresh_status()

    def add_selected(self) -> None:
        """Add the selected Labels layer (any, even one without SegReview metadata)."""
        layer = self.viewer.layers.selection.active
        ctl = self.controller
        if ctl is None or not isinstance(layer, Labels):
            show_error("select a Labels layer in the layer list (and start a session) first.")
            return
        ctl.add_layer(layer)
        ctl.flush()
        show_info(f"{layer.name!r} is now saved with the session.")

    def restore(self) -> Any:
        """Load the session in the folder (in a worker), then re-attach autosave."""
        folder = self.folder()
        if folder is None or not is_session(folder):
            show_error("no session in that folder; choose the folder that holds session.json.")
            return None
        if self.controller is not None:
            show_error("this viewer already has a session; close napari's session first.")
            return None
        refusal = already_open(folder, self.viewer)
        if refusal is not None:
            show_error(refusal)
            return None

        @thread_worker
        def load() -> tuple:
            return session_layer_data(folder)

        def done(result: tuple) -> None:
            session, layers = result
            for data, kwargs, kind in layers:
                bound = (kwargs.get("metadata") or {}).get(KEY) or {}
                if (kind == "image" and "session" not in bound
                        and any(isinstance(lay, Image) for lay in self.viewer.layers)):
                    continue  # the session's image is already open (not a probability)
                self.viewer.add_layer(Layer.create(data, kwargs, kind))
            finish_restore(self.viewer, session)
            ctl = self.controller
            if ctl is not None:
                ctl.interval_s = self.interval_spin.value()
            self.refresh_status()
            self.restored.emit(str(folder))

        worker = load()
        worker.returned.connect(done)
        worker.errored.connect(lambda exc: show_error(f"could not restore the session: {exc}"))
        self.restore_worker = worker
        self.status.setText("restoring...")
        worker.start()
        return worker
