"""One long-lived worker thread that owns the model and runs jobs off the GUI thread.

Rules (krita-ai-diffusion / ndv style):

* **Lanes.** Every job belongs to a lane (``model``, ``index``, ``search``, ``explain``, ``strokes``,
  ``contrast``, ``export``).
  A lane holds at most one pending job: a new submission replaces it (latest wins).
* **Generations.** Each submission gets a new generation id for its lane. A running job whose lane
  has moved on sees ``ctx.cancelled()`` turn true, and whatever it still emits is dropped on the
  GUI thread because its generation is stale.
* **Equal requests are skipped.** A job may carry a hashable ``key``; submitting the same key as the
  lane's latest job does nothing (an unchanged sketch is not re-run).
* **Errors are results.** An exception inside a job becomes a ``JobResult`` with ``stage="error"``
  and the message; nothing escapes into Qt's event loop.
* **Sync mode** runs jobs on the calling thread at submission, for deterministic tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from zse_gui.errors import CancelledError, ZseError

__all__ = ["Job", "JobContext", "JobResult", "Worker", "LANES"]

log = logging.getLogger(__name__)

# Lanes in the order the thread serves them: a model load must happen before the index that
# depends on it, and an index before searches over it.
LANES = ("model", "index", "search", "explain", "strokes", "contrast", "export")


@dataclass(frozen=True)
class JobResult:
    """What a job reports back to the GUI thread.

    Attributes:
        lane: the job's lane.
        generation: submission id within the lane (higher = newer).
        stage: ``"progress"`` (payload = (done, total)), ``"partial"`` (an early result, e.g. stage-1
            retrieval), ``"done"`` (payload = the job's return value), ``"error"`` or ``"cancelled"``.
        payload: stage-dependent value.
        error: the message of a failed job ("" otherwise).
        error_type: the exception's class name, so a view can word it ("InvalidSketchError").
        elapsed_ms: wall time since the job started.
    """

    lane: str
    generation: int
    stage: str
    payload: Any = None
    error: str = ""
    error_type: str = ""
    elapsed_ms: float = 0.0


class JobContext:
    """Handed to a running job: cancellation check, partial results and progress."""

    def __init__(self, worker: Worker, lane: str, generation: int) -> None:
        self._worker = worker
        self.lane = lane
        self.generation = generation
        self._t0 = time.perf_counter()

    def cancelled(self) -> bool:
        """True once the job is superseded, cancelled, or the worker is stopping."""
        return self._worker._is_cancelled(self.lane, self.generation)

    def wait_cancelled(self, timeout_s: float | None = None) -> bool:
        """Block until the job is cancelled (or ``timeout_s`` passes); True when cancelled.

        For jobs that wait on something external: they wake at once on cancel or stop.
        """
        if self.cancelled():
            return True
        self._worker._cancel_event.wait(timeout_s)
        return self.cancelled()

    def check(self) -> None:
        """Raise ``CancelledError`` when cancelled (call between stages)."""
        if self.cancelled():
            raise CancelledError(f"{self.lane} job {self.generation} was superseded or cancelled")

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0

    def emit(self, stage: str, payload: Any) -> None:
        """Send an early result (``"partial"``) to the GUI thread."""
        self._worker._post(
            JobResult(self.lane, self.generation, stage, payload, elapsed_ms=self.elapsed_ms())
        )

    def progress(self, done: int, total: int) -> None:
        """Report progress; matches the engine's ``progress(done, total)`` callback."""
        self.emit("progress", (int(done), int(total)))


@dataclass
class Job:
    """A unit of work for the worker.

    Attributes:
        lane: one of ``LANES``.
        fn: ``fn(state, ctx) -> payload``; runs on the worker thread with the worker's state.
        key: equal keys in a lane are skipped; None = always run.
        label: for logs.
    """

    lane: str
    fn: Callable[[Any, JobContext], Any]  # (the worker's state object, context) -> payload
    key: Hashable | None = None
    label: str = ""
    generation: int = field(default=0, init=False)


class _Thread(QThread):
    """The worker's thread: serves pending jobs until stopped."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self._worker = worker
        self.setObjectName("zse-worker")

    def run(self) -> None:
        self._worker._serve()


class Worker(QObject):
    """Runs jobs on one long-lived thread; results arrive on the GUI thread through ``result``.

    Args:
        state: the object jobs read and write (it holds the engine); only the worker thread
            touches it once started.
        sync: run each job at submission on the caller's thread (tests).
    """

    result = Signal(object)  # JobResult, current generations only
    busy_changed = Signal(bool)
    _delivered = Signal(object)  # JobResult from the worker thread, queued to the GUI thread

    def __init__(self, state: Any, sync: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.sync = sync
        self._cond = threading.Condition()
        self._pending: dict[str, Job] = {}
        self._latest: dict[str, int] = dict.fromkeys(LANES, 0)
        self._last_key: dict[str, Hashable | None] = dict.fromkeys(LANES)
        self._cancelled: set[tuple[str, int]] = set()
        self._running: Job | None = None
        self._cancel_event = threading.Event()  # set when the running job is cancelled
        self._stopping = False
        self._busy = False
        self._thread: _Thread | None = None
        self._delivered.connect(self._on_thread_delivered)
        if not sync:
            self._thread = _Thread(self)
            self._thread.start()

    # ----------------------------------------------------------------- GUI-thread API
    def submit(self, job: Job, force: bool = False) -> int | None:
        """Queue a job; returns its generation, or None when skipped as equal to the latest."""
        if job.lane not in LANES:
            raise ValueError(f"unknown lane {job.lane!r}; lanes are {LANES}")
        if self._stopping:
            return None
        if not force and job.key is not None and job.key == self._last_key[job.lane]:
            log.debug("skipping equal %s request", job.lane)
            return None
        with self._cond:
            self._latest[job.lane] += 1
            job.generation = self._latest[job.lane]
            self._last_key[job.lane] = job.key
            if self._running is not None and self._running.lane == job.lane:
                self._cancel_event.set()  # the running job of this lane is superseded
            if not self.sync:
                self._pending[job.lane] = job
                self._cond.notify_all()
        if self.sync:
            # outside the lock: a result handler may submit the next job from inside this call
            self._run(job)
        else:
            self._set_busy(True)
        return job.generation

    def cancel(self, lane: str) -> None:
        """Cancel the running and pending job of a lane; a running one reports ``"cancelled"``."""
        with self._cond:
            pending = self._pending.pop(lane, None)
            self._cancelled.add((lane, self._latest[lane]))
            self._last_key[lane] = None
            if self._running is not None and self._running.lane == lane:
                self._cancel_event.set()
        if pending is not None:
            self._post(JobResult(lane, pending.generation, "cancelled"))

    def forget(self, lane: str) -> None:
        """Forget the lane's last key, so the next equal request runs again (the model changed)."""
        self._last_key[lane] = None

    def is_busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return self._running is not None or bool(self._pending)

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything and end the thread; True when it ended within the timeout.

        Jobs check ``ctx.cancelled()`` between stages, so a stop waits at most for one stage.
        """
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cancel_event.set()
            self._cond.notify_all()
        if self._thread is None:
            return True
        ended = self._thread.wait(timeout_ms)
        if not ended:
            log.warning("worker thread still busy after %d ms; leaving it to finish", timeout_ms)
        return bool(ended)

    # ----------------------------------------------------------------- worker side
    def _is_cancelled(self, lane: str, generation: int) -> bool:
        return self._stopping or generation != self._latest[lane] or (lane, generation) in self._cancelled

    def _post(self, res: JobResult) -> None:
        if self.sync:
            self._on_thread_delivered(res)
        else:
            self._delivered.emit(res)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                lane = next(ln for ln in LANES if ln in self._pending)
                job = self._pending.pop(lane)
                self._running = job
                self._cancel_event.clear()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
                    idle = not self._pending
                if idle:
                    self._post(JobResult("", 0, "idle"))

    def _run(self, job: Job) -> None:
        ctx = JobContext(self, job.lane, job.generation)
        if ctx.cancelled():
            self._post(JobResult(job.lane, job.generation, "cancelled"))
            return
        try:
            payload = job.fn(self.state, ctx)
        except CancelledError:
            self._post(JobResult(job.lane, job.generation, "cancelled", elapsed_ms=ctx.elapsed_ms()))
        except Exception as exc:  # errors come back as results, whatever their type
            if not isinstance(exc, ZseError):
                log.exception("%s job %r failed", job.lane, job.label)
            self._post(
                JobResult(
                    job.lane,
                    job.generation,
                    "error",
                    error=str(exc) or type(exc).__name__,
                    error_type=type(exc).__name__,
                    elapsed_ms=ctx.elapsed_ms(),
                )
            )
        else:
            self._post(JobResult(job.lane, job.generation, "done", payload, elapsed_ms=ctx.elapsed_ms()))

    # ----------------------------------------------------------------- GUI thread
    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    @Slot(object)
    def _on_thread_delivered(self, res: JobResult) -> None:
        if res.stage == "idle":
            self._set_busy(self.is_busy())
            return
        if self._stopping:
            return
        if res.generation != self._latest[res.lane]:
            log.debug(
                "dropping stale %s result %d (latest %d)", res.lane, res.generation, self._latest[res.lane]
            )
            return
        if res.stage != "cancelled" and (res.lane, res.generation) in self._cancelled:
            # cancelled while it ran: what it still finished belongs to a request the GUI withdrew
            log.debug("dropping %s result %d of a cancelled job", res.lane, res.generation)
            return
        self.result.emit(res)
