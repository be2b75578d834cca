"""The case open in the viewer: its layers and its review session, one case at a time.

:meth:`OpenCase.show` adds a :class:`~.loading.CaseLayers` to the viewer and
binds the case's review session through the Session panel's controller
(:func:`~napari_segreview._napari.session.reader.create_session` for a case
opened the first time, :func:`~napari_segreview._napari.session.reader.attach`
for one that has a session already: autosave, crash recovery, the close
guard all work as for any session). :meth:`OpenCase.close` flushes the
session first, detaches it, and only then removes the case's layers, so
nothing is lost and memory holds one case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari.layers import Image, Layer
from napari.utils.notifications import show_warning

from napari_segreview._napari._meta import meta
from napari_segreview._napari.dataset.loading import CaseLayers
from napari_segreview._napari.session.reader import attach, create_session
from napari_segreview._napari.session.registry import controller_for, same_folder
from napari_segreview.errors import SessionError

__all__ = ["OpenCase"]


class OpenCase:
    """The case shown in ``viewer`` (at most one), with its session controller."""

    def __init__(self, viewer: Any, interval_s: float = 2.0):
        self.viewer = viewer
        self.interval_s = interval_s
        self.case_id: str | None = None
        self.session_dir: Path | None = None
        self.controller: Any = None
        self._layers: list[Any] = []

    @property
    def image(self) -> Image | None:
        """The case's image layer (None when no case is open)."""
        return next((lay for lay in self._layers if isinstance(lay, Image)
                     and meta(lay).get("kind") != "probability"), None)

    def show(self, loaded: CaseLayers) -> Any:
        """Add the case's layers and bind its session; returns the session controller.

        Raises
        ------
        SessionError
            When this viewer already autosaves another session (not a case's),
            or the case's session cannot be opened; nothing stays added.
        """
        if self.case_id is not None:
            raise SessionError(f"case {self.case_id} is still open; close it first.")
        own = controller_for(self.viewer)
        if own is not None:
            raise SessionError(f"this window autosaves the session {own.session.folder}; "
                               "close it (or open the dataset in a new window) to review "
                               "cases.")
        added = [self.viewer.add_layer(Layer.create(*loaded.image))]
        try:
            for data, kwargs, kind in loaded.layers:
                added.append(self.viewer.add_layer(Layer.create(data, kwargs, kind)))
            if loaded.restored:
                ctl = attach(self.viewer, loaded.session_dir, interval_s=self.interval_s)
            else:
                ctl = create_session(self.viewer, loaded.session_dir, added[0],
                                     interval_s=self.interval_s)
        except Exception:
            for layer in reversed(added):
                self.viewer.layers.remove(layer)
            raise
        ctl.failed.connect(lambda msg: show_warning(f"autosave failed: {msg}"))
        self.case_id, self.session_dir, self.controller = (
            loaded.case_id, loaded.session_dir, ctl)
        self._layers = added
        self.viewer.reset_view()
        return ctl

    def flush(self) -> tuple[bool, str]:
        """Write every pending edit of the open case now; ``(ok, error sentence)``."""
        if self.controller is None:
            return True, ""
        return self.controller.flush_sync()

    def case_layers(self) -> list[Any]:
        """The layers of the open case: those added, and those bound to its session since."""
        out = [lay for lay in self._layers if lay in self.viewer.layers]
        for lay in self.viewer.layers:
            bound = meta(lay).get("session") or {}
            same = self.session_dir is not None and same_folder(bound.get("folder"),
                                                                self.session_dir)
            if lay not in out and (same or (self.case_id is not None
                                            and meta(lay).get("image") == self.case_id)):
                out.append(lay)
        return out

    def close(self) -> None:
        """Flush the session, detach autosave, then remove the case's layers.

        Raises
        ------
        SessionError
            When the edits cannot be written: the case stays open, nothing is removed.
        """
        if self.case_id is None:
            return
        ok, message = self.flush()
        if not ok:
            raise SessionError(f"could not save the edits of case {self.case_id} ({message}); "
                               "it stays open so that nothing is lost.")
        layers = self.case_layers()
        if self.controller is not None and self.controller.attached:
            self.controller.detach(close_session=True)
        for layer in layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.case_id, self.session_dir, self.controller, self._layers = None, None, None, []
