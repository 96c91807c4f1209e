"""Worker rules: latest wins, stale results dropped, equal requests skipped, errors as results.

Threaded tests synchronise with events and ``qtbot.waitSignal``, never with sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from zse_gui.errors import InvalidSketchError
from zse_gui.qt.worker import Job, JobContext, JobResult, Worker

TIMEOUT_MS = 10000


def _value_job(lane: str, value: object, key: object = None, log: list[object] | None = None) -> Job:
    def run(state: Any, ctx: JobContext) -> object:
        if log is not None:
            log.append(value)
        return value

    return Job(lane, run, key=key)


def _blocking_job(started: threading.Event, release: threading.Event, value: object) -> Job:
    def run(state: Any, ctx: JobContext) -> object:
        started.set()
        if not release.wait(TIMEOUT_MS / 1000):
            raise RuntimeError("test never released the job")
        ctx.emit("partial", f"{value}-partial")
        return value

    return Job("search", run)


@pytest.fixture
def threaded(qtbot: Any) -> Iterator[Worker]:
    w = Worker(state=None)
    yield w
    w.stop()


def test_sync_mode_runs_at_submit_and_delivers(qtbot: Any) -> None:
    w = Worker(state={"x": 1}, sync=True)
    got: list[JobResult] = []
    w.result.connect(got.append)
    gen = w.submit(Job("search", lambda st, ctx: st["x"] + 1))
    assert gen == 1
    assert [(r.stage, r.payload, r.generation) for r in got] == [("done", 2, 1)]


def test_equal_request_is_skipped(qtbot: Any) -> None:
    w = Worker(state=None, sync=True)
    ran: list[object] = []
    assert w.submit(_value_job("search", "a", key="k1", log=ran)) == 1
    assert w.submit(_value_job("search", "a", key="k1", log=ran)) is None
    assert w.submit(_value_job("search", "b", key="k2", log=ran)) == 2
    # forcing, or forgetting the key, runs an equal request again
    assert w.submit(_value_job("search", "b", key="k2", log=ran), force=True) == 3
    w.forget("search")
    assert w.submit(_value_job("search", "b", key="k2", log=ran)) == 4
    assert ran == ["a", "b", "b", "b"]


def test_keys_are_per_lane(qtbot: Any) -> None:
    w = Worker(state=None, sync=True)
    assert w.submit(_value_job("search", 1, key="same")) is not None
    assert w.submit(_value_job("explain", 1, key="same")) is not None


def test_error_comes_back_as_result(qtbot: Any) -> None:
    w = Worker(state=None, sync=True)
    got: list[JobResult] = []
    w.result.connect(got.append)

    def bad(state: Any, ctx: JobContext) -> None:
        raise InvalidSketchError("the sketch has no ink")

    w.submit(Job("search", bad))
    assert len(got) == 1
    assert got[0].stage == "error"
    assert got[0].error_type == "InvalidSketchError"
    assert "no ink" in got[0].error


def test_unexpected_exception_is_also_a_result(qtbot: Any, caplog: pytest.LogCaptureFixture) -> None:
    w = Worker(state=None, sync=True)
    got: list[JobResult] = []
    w.result.connect(got.append)
    w.submit(Job("export", lambda st, ctx: 1 / 0))
    assert got[0].stage == "error" and got[0].error_type == "ZeroDivisionError"
    assert "failed" in caplog.text  # logged with its traceback for the developer


def test_unknown_lane_is_rejected(qtbot: Any) -> None:
    w = Worker(state=None, sync=True)
    with pytest.raises(ValueError, match="lane"):
        w.submit(Job("nope", lambda st, ctx: None))


def test_latest_wins_and_stale_results_are_dropped(qtbot: Any, threaded: Worker) -> None:
    """A runs (blocked); B is queued then replaced by C. B never runs, A's results are stale."""
    got: list[JobResult] = []
    threaded.result.connect(got.append)
    ran: list[object] = []
    started, release = threading.Event(), threading.Event()
    gen_a = threaded.submit(_blocking_job(started, release, "A"))
    assert started.wait(TIMEOUT_MS / 1000)
    gen_b = threaded.submit(_value_job("search", "B", log=ran))
    gen_c = threaded.submit(_value_job("search", "C", log=ran))
    assert gen_a is not None and gen_b is not None and gen_c is not None and gen_a < gen_b < gen_c
    with qtbot.waitSignal(
        threaded.result, timeout=TIMEOUT_MS, check_params_cb=lambda r: r.stage == "done" and r.payload == "C"
    ):
        release.set()
    assert ran == ["C"], "the replaced request B must never run"
    assert all(r.generation == gen_c for r in got), "results of superseded request A must be dropped"
    assert [r.payload for r in got] == ["C"]


def test_running_job_sees_cancellation_when_superseded(qtbot: Any, threaded: Worker) -> None:
    seen: list[bool] = []
    started = threading.Event()

    def long(state: Any, ctx: JobContext) -> None:
        started.set()
        seen.append(ctx.wait_cancelled(TIMEOUT_MS / 1000))

    threaded.submit(Job("search", long))
    assert started.wait(TIMEOUT_MS / 1000)
    with qtbot.waitSignal(threaded.result, timeout=TIMEOUT_MS, check_params_cb=lambda r: r.payload == "new"):
        threaded.submit(_value_job("search", "new"))
    assert seen == [True], "submitting a newer request must wake and cancel the running one"


def test_cancel_reports_cancelled(qtbot: Any, threaded: Worker) -> None:
    started = threading.Event()

    def cancellable(state: Any, ctx: JobContext) -> None:
        started.set()
        ctx.wait_cancelled(TIMEOUT_MS / 1000)
        ctx.check()

    threaded.submit(Job("index", cancellable))
    assert started.wait(TIMEOUT_MS / 1000)
    with qtbot.waitSignal(threaded.result, timeout=TIMEOUT_MS) as blocker:
        threaded.cancel("index")
    assert blocker.args[0].stage == "cancelled"


def test_partial_results_arrive_before_the_final_one(qtbot: Any, threaded: Worker) -> None:
    got: list[JobResult] = []
    threaded.result.connect(got.append)

    def staged(state: Any, ctx: JobContext) -> str:
        ctx.emit("partial", "stage1")
        return "stage2"

    with qtbot.waitSignal(threaded.result, timeout=TIMEOUT_MS, check_params_cb=lambda r: r.stage == "done"):
        threaded.submit(Job("search", staged))
    assert [(r.stage, r.payload) for r in got] == [("partial", "stage1"), ("done", "stage2")]


def test_stop_ends_a_running_job_cleanly(qtbot: Any) -> None:
    w = Worker(state=None)
    started = threading.Event()
    finished: list[str] = []

    def polling(state: Any, ctx: JobContext) -> None:
        started.set()
        if ctx.wait_cancelled(TIMEOUT_MS / 1000):
            finished.append("saw stop")
        ctx.check()

    w.submit(Job("index", polling))
    assert started.wait(TIMEOUT_MS / 1000)
    assert w.stop(TIMEOUT_MS)
    assert finished == ["saw stop"]
    assert w.submit(_value_job("search", 1)) is None, "a stopped worker takes no new jobs"


def test_busy_signal_goes_true_then_false(qtbot: Any, threaded: Worker) -> None:
    states: list[bool] = []
    threaded.busy_changed.connect(states.append)
    with qtbot.waitSignal(threaded.busy_changed, timeout=TIMEOUT_MS, check_params_cb=lambda b: b is False):
        threaded.submit(_value_job("search", 1))
    assert states == [True, False]


def test_what_a_cancelled_job_still_finishes_is_dropped(qtbot: Any, threaded: Worker) -> None:
    """A job cancelled while it runs may still return; the GUI withdrew it, so it must not arrive."""
    got: list[JobResult] = []
    threaded.result.connect(got.append)
    started, release = threading.Event(), threading.Event()
    threaded.submit(_blocking_job(started, release, "withdrawn"))  # ignores cancellation
    assert started.wait(TIMEOUT_MS / 1000)
    threaded.cancel("search")
    with qtbot.waitSignal(threaded.busy_changed, timeout=TIMEOUT_MS, check_params_cb=lambda b: not b):
        release.set()
    assert [r.payload for r in got if r.stage in ("partial", "done")] == []
