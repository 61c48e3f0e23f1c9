"""engine.background.streamed: a job's newest progress, its result or its error, and cancellation."""
import threading
import time

import pytest

from ganlab.engine.background import Cancelled, streamed


def test_progress_is_newest_first_paced_and_ends_with_the_result():
    def job(report):
        for i in range(20):
            time.sleep(0.02)
            report(i)
        return "done!"
    out = list(streamed(job, every=0.1))
    assert out[-1] == ("done", "done!")
    steps = [item for kind, item in out if kind == "progress"]
    assert steps == sorted(steps) and len(steps) < 20 and steps[0] == 0    # paced: not every report


def test_a_caller_that_stops_cancels_the_job():
    ended = threading.Event()

    def job(report):
        try:
            for i in range(10_000):
                time.sleep(0.005)
                report(i)
        except Cancelled:
            ended.set()
            raise
    it = streamed(job, every=0.01)
    next(it)
    it.close()
    assert ended.wait(2.0)


def test_the_jobs_error_reaches_the_caller():
    def job(report):
        report(1)
        raise ValueError("broken picture")
    with pytest.raises(ValueError, match="broken picture"):
        list(streamed(job))
