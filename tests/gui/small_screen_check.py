"""Dock every SegReview panel in a real napari window and report what fits (a script).

Run by tests/gui/test_small_screen.py on a 1366x768 Xvfb screen; prints one JSON
object: the screen, the main window's frame, and per panel (by its napari.yaml
display name) the buttons that cannot be seen whole.

A button counts as seen whole when, with its panel's dock in front (a tab is
raised) and its tab page current (each page of each ``QTabWidget`` in turn):

* it is as large as its minimum size hint (its text is not cut);
* its panel's scroll area can bring it into view: after
  ``scroll_area.ensureWidgetVisible(button)``, its rectangle mapped to the
  scroll area's viewport lies inside the viewport; a panel without a scroll
  area must hold it inside its own rectangle;
* the viewport (or panel) itself lies on the screen.

Buttons inside item views (a table's "Go to" per row) scroll with their view
and are not counted; neither are buttons the panel hides on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from qtpy.QtCore import QPoint, QRect
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QPushButton,
    QTabWidget,
)

MANIFEST = Path(__file__).resolve().parents[2] / "src" / "napari_segreview" / "napari.yaml"


def settle(app, n=10):
    for _ in range(n):
        app.processEvents()


def rect_in(widget, ancestor) -> QRect:
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


def problems(panel, screen, app) -> list[str]:
    area = getattr(panel, "scroll_area", None)
    out = []
    for button in panel.findChildren(QPushButton):
        if not button.isVisibleTo(panel):
            continue
        parent, in_view = button.parentWidget(), False
        while parent is not None and parent is not panel:
            in_view = in_view or isinstance(parent, QAbstractItemView)
            parent = parent.parentWidget()
        if in_view:
            continue
        name = button.text() or button.objectName()
        hint = button.minimumSizeHint()
        if button.width() < hint.width() or button.height() < hint.height():
            out.append(f"{name!r} is cut ({button.width()}x{button.height()} < "
                       f"{hint.width()}x{hint.height()})")
        holder = panel if area is None else area.viewport()
        if area is not None:
            area.ensureWidgetVisible(button, 0, 0)
            settle(app, 3)
        if not holder.rect().contains(rect_in(button, holder)):
            out.append(f"{name!r} cannot be brought into view")
        if not screen.contains(QRect(holder.mapToGlobal(QPoint(0, 0)), holder.size())):
            out.append(f"the panel holding {name!r} lies off the screen")
    return out


def main() -> None:
    import napari
    from napari.qt.threading import WorkerBase

    widgets = yaml.safe_load(MANIFEST.read_text())["contributions"]["widgets"]
    names = [w["display_name"] for w in widgets]
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    panels = {}
    for name in names:
        dock, panel = viewer.window.add_plugin_dock_widget("napari-segreview", name)
        panels[name] = (dock, panel)
        settle(app)
    window = dock.window()
    settle(app, 30)
    geometry = window.frameGeometry()
    screen = app.primaryScreen().geometry()
    report = {"screen": screen.getRect(),
              "frame": geometry.getRect(), "panels": {}}
    for name, (dock, panel) in panels.items():
        dock.raise_()
        settle(app)
        found = [] if dock.isVisible() else ["its dock cannot be shown"]
        tabs = [t for t in panel.findChildren(QTabWidget) if t.isVisibleTo(panel)]
        pages = [(t, i) for t in tabs for i in range(t.count())] or [(None, 0)]
        for tab, i in pages:
            if tab is not None:
                tab.setCurrentIndex(i)
                settle(app)
            found += problems(panel, screen, app)
        report["panels"][name] = sorted(set(found))
        report.setdefault("docks", {})[name] = isinstance(dock, QDockWidget)
    WorkerBase.await_workers(60_000)  # Predict lists devices in a worker
    viewer.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
