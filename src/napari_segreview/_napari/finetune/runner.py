"""Run ``segreview train --json`` in a process of its own and turn its lines into Qt signals.

Training never runs in napari's process: whatever it does to the GIL, to
memory or to the GPU, napari stays responsive, and a crash of the training is
not a crash of napari. :class:`TrainProcess` starts the command with
``QProcess`` (its output arrives through the Qt event loop; no thread), reads
one JSON event per line of stdout (:func:`~napari_segreview.training.progress.parse_event`,
which imports no torch), and ends with one outcome:

``"done"``
    a ``done`` event came (the new model is written);
``"error"``
    an ``error`` event came (its sentence), or the process failed to start
    or ended without ``done`` (a crash: the last line it wrote on stderr);
``"cancelled"``
    :meth:`TrainProcess.cancel` ended it (SIGTERM, then a kill): the trainer
    writes nothing in that case.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

from qtpy.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from napari_segreview.training.progress import parse_event

__all__ = ["COMMAND", "TrainProcess"]

#: The command the panel runs (the arguments and ``--json`` follow).
COMMAND = (sys.executable, "-m", "napari_segreview.cli", "train")
#: Milliseconds between SIGTERM and a kill when cancelling.
KILL_AFTER_MS = 5000


class TrainProcess(QObject):
    """One training process at a time (see the module docstring).

    Attributes
    ----------
    command : sequence of str
        The program and its leading arguments (tests put a fake trainer here).
    events : list of dict
        Every event of the current (or last) run, in order.
    pid : int
        The process id of the current (or last) run (0 before one started).
    """

    #: One protocol event (a dict with an ``"event"`` key), as it arrives.
    received = Signal(dict)
    #: The run ended: outcome (``"done"``, ``"error"``, ``"cancelled"``) and a sentence.
    ended = Signal(str, str)

    def __init__(self, parent: QObject | None = None, command: Any = COMMAND):
        super().__init__(parent)
        self.command = list(command)
        self.events: list[dict] = []
        self._proc: QProcess | None = None
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=20)
        self._cancelled = False
        self._over = True
        self.pid = 0

    @property
    def running(self) -> bool:
        """Whether a training process is running now."""
        return not self._over

    def start(self, args: list[str]) -> None:
        """Start ``command + args + ["--json"]``; returns at once."""
        if self.running:
            raise RuntimeError("a training process is already running")
        self.events, self._buffer, self._cancelled, self._over = [], b"", False, False
        self._stderr.clear()
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        proc.started.connect(lambda: setattr(self, "pid", int(proc.processId())))
        self._proc = proc
        program, *rest = self.command
        proc.start(program, [*rest, *args, "--json"])

    def cancel(self) -> None:
        """End the running process (SIGTERM, then a kill if it is still there)."""
        proc = self._proc
        if proc is None or self._over:
            return
        self._cancelled = True
        proc.terminate()
        QTimer.singleShot(KILL_AFTER_MS, self._kill)

    def shutdown(self, msecs: int = 5000) -> None:
        """Cancel a running process and wait (at most ``msecs``) until it is gone."""
        proc = self._proc
        if proc is None or self._over:
            return
        self.cancel()
        if not proc.waitForFinished(msecs):
            proc.kill()
            proc.waitForFinished(msecs)

    def _kill(self) -> None:
        if self._proc is not None and not self._over:
            self._proc.kill()

    # -- reading --------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._buffer += bytes(self._proc.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        event = parse_event(line)
        if event is None or self._cancelled:
            return
        self.events.append(event)
        self.received.emit(event)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError()).decode("utf-8", "replace")
        self._stderr.extend(s.strip() for s in text.splitlines() if s.strip())

    def last(self, kind: str) -> dict | None:
        """The last event of ``kind`` in this run, or None."""
        return next((e for e in reversed(self.events) if e["event"] == kind), None)

    # -- ending ---------------------------------------------------------------------------
    def _on_error(self, error: Any) -> None:
        if error == QProcess.ProcessError.FailedToStart and not self._over:
            self._end("error", f"the training command {self.command[0]} could not be started "
                               f"({self._proc.errorString()}); nothing was written.")

    def _on_finished(self, code: int, status: Any) -> None:
        if self._over:
            return
        self._read_stdout()
        self._read_stderr()
        if self._buffer.strip():
            self._line(self._buffer)
            self._buffer = b""
        done, error = self.last("done"), self.last("error")
        if self._cancelled:
            self._end("cancelled", "Training cancelled; nothing was written and the base "
                                   "model is unchanged.")
        elif done is not None:
            self._end("done", "")
        elif error is not None:
            self._end("error", str(error.get("message", "training failed.")))
        else:
            how = ("crashed" if status == QProcess.ExitStatus.CrashExit
                   else f"ended with exit status {code}")
            last = f": {self._stderr[-1]}" if self._stderr else ""
            self._end("error", f"the training process {how} before it finished{last}; "
                               "the base model is unchanged.")

    def _end(self, outcome: str, message: str) -> None:
        self._over = True
        self.ended.emit(outcome, message)
