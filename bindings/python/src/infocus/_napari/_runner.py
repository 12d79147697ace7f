"""Runs one long native call at a time off the GUI thread.

The call runs in a napari ``thread_worker``; the library's progress callback
(called on worker threads) only records where it is and answers whether to
stop, and a timer on the GUI thread turns that into napari's progress bar
and the status line. Cancel (the widget's button, or the progress bar's own
in napari's activity panel) makes the callback return non-zero, so the
native call stops at its next report and returns ``INFOCUS_ERR_CANCELLED``.
Failures become napari notifications, never tracebacks.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from napari.qt.threading import create_worker
from napari.utils import cancelable_progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, QTimer, Signal

import infocus

Work = Callable[[Callable[..., bool]], Any]


def describe(args: tuple) -> str:
    """The status text of a progress report: (done, total) of slices, or
    (epoch, epochs, loss, val_iou) of training."""
    if len(args) == 4:
        e, n, loss, iou = args
        return f"epoch {e}/{n}, loss {loss:.3f}, validation IoU {iou:.3f}"
    done, total = args[:2]
    return f"{done}/{total}"


class Runner(QObject):
    """Starts jobs, reports their progress, cancels them, reports how they ended."""

    started = Signal(str)
    finished = Signal(str, str)  # label, outcome: "ok" | "cancelled" | "error"
    progressed = Signal(str)  # the status text, on the GUI thread

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker = None
        self.label = ""
        self.status = ""
        self.last_message = ""
        self._cancel = threading.Event()
        self._report: Optional[tuple] = None
        self._pbar = None
        self._shown = 0
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start(self, label: str, work: Work, on_result: Callable[[Any], None]) -> bool:
        """Runs ``work(progress)`` in a thread; ``on_result(value)`` then runs
        on the GUI thread. False (and a notification) when a job is running."""
        if self.busy:
            self._notify(f"infocus is busy ({self.label}): wait or cancel it first", error=True)
            return False
        self.label = label
        self._cancel.clear()
        self._report = None
        self._shown = 0
        pbar = cancelable_progress(total=0, desc=f"infocus: {label}")
        self._pbar = pbar

        def progress(*args) -> bool:
            self._report = args
            return self._cancel.is_set() or pbar.is_canceled

        def run():
            try:
                return "ok", work(progress)
            except infocus.Cancelled:
                return "cancelled", None
            except Exception as e:  # noqa: BLE001 - shown as a notification
                return "error", e

        self.worker = create_worker(run, _start_thread=False)
        self.worker.returned.connect(lambda out: self._done(out, on_result))
        self.status = f"{label}: running"
        self._timer.start()
        self.started.emit(label)
        self.worker.start()
        return True

    def cancel(self) -> None:
        """Asks the running native call to stop at its next progress report."""
        if self.busy:
            self._cancel.set()
            self.status = f"{self.label}: cancelling"

    def _poll(self) -> None:
        args = self._report
        if args is None or self._pbar is None:
            return
        done, total = int(args[0]), int(args[1])
        if self._pbar.total != total:
            self._pbar.total = total
        if done > self._shown:
            self._pbar.update(done - self._shown)
            self._shown = done
        self.status = f"{self.label}: {describe(args)}"
        self.progressed.emit(self.status)

    def _done(self, out, on_result) -> None:
        self._timer.stop()
        self._poll()
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.worker = None
        outcome, value = out
        if outcome == "ok":
            try:
                on_result(value)
                self.status = f"{self.label}: done"
            except Exception as e:  # noqa: BLE001
                outcome = "error"
                self._notify(f"infocus: {self.label} failed: {e}", error=True)
        elif outcome == "cancelled":
            self._notify(f"infocus: {self.label} cancelled; nothing was changed")
        else:
            self._notify(f"infocus: {self.label} failed: {value}", error=True)
        if outcome != "ok":
            self.status = f"{self.label}: {outcome}"
        self.finished.emit(self.label, outcome)

    def _notify(self, message: str, error: bool = False) -> None:
        self.last_message = message
        (show_error if error else show_info)(message)
