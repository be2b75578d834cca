"""The Dataset panel's fields and their layout (no behaviour: see :mod:`.widget`).

Top to bottom: the dataset folder, "12 / 140 done", the status filter and
the queue's order, the table of cases, Previous / Next, Mark done / Skip
with its reason, whether to go on to the next case, the case's status line,
and the Predict / Export box (:class:`.runbox.RunBox`). Everything sits in a
scroll area (:func:`~napari_segreview._napari._panel.scroll_panel`), so the
panel fits a laptop screen.
"""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QPushButton, QWidget

from napari_segreview._napari._panel import scroll_panel
from napari_segreview._napari.dataset.runbox import RunBox, row
from napari_segreview._napari.dataset.table import CaseTable
from napari_segreview.dataset.manifest import STATUSES

__all__ = ["KEYS", "ORDERS", "DatasetForm"]

#: The viewer's keyboard shortcuts: Next, Previous, Mark done.
KEYS = {"next": "Alt-N", "previous": "Alt-P", "mark_done": "Alt-D"}
#: The queue orders offered.
ORDERS = ("Most uncertain first", "Table order")


class DatasetForm(QWidget):
    """The panel's widgets as public attributes; :meth:`build` lays them out."""

    def build(self) -> None:
        """Make the fields and lay them out in a scroll area."""
        self.setObjectName("segreview_dataset")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a dataset folder (segreview-dataset.json)")
        self.browse = QPushButton("Open...")
        self.counts = QLabel("No dataset open")
        self.counts.setObjectName("segreview_dataset_counts")
        self.counts.setStyleSheet("font-weight: bold")
        self.status_filter = QComboBox()
        self.status_filter.addItems(["every status", *STATUSES])
        self.order = QComboBox()
        self.order.addItems(ORDERS)
        self.table = CaseTable(self)
        self.prev_button, self.next_button = QPushButton("< Previous"), QPushButton("Next >")
        self.done_button, self.skip_button = QPushButton("Mark done"), QPushButton("Skip")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why skip (e.g. motion artefacts)")
        self.advance = QCheckBox("Go to the next case after Mark done / Skip")
        self.advance.setChecked(True)
        self.case_status = QLabel("")
        self.case_status.setWordWrap(True)
        self.runbox = RunBox(lambda: self.folder.text().strip(), self)
        layout = scroll_panel(self)
        layout.addLayout(row(self.folder, self.browse))
        layout.addWidget(self.counts)
        layout.addLayout(row(QLabel("Show"), self.status_filter, QLabel("Order"), self.order))
        layout.addWidget(self.table)
        layout.addLayout(row(self.prev_button, self.next_button))
        layout.addLayout(row(self.done_button, self.skip_button, self.reason))
        layout.addWidget(self.advance)
        layout.addWidget(self.case_status)
        layout.addWidget(self.runbox)
        layout.addStretch()
