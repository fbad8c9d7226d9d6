"""run_streaming cancels the job on SIGTERM (a scheduler stopping the launcher), as on Ctrl-C, and restores
the previous SIGTERM handler afterwards."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import streaming_launcher as streaming


class _BlockingResult:
    """A PipelineResult whose job runs until cancelled."""

    def __init__(self):
        self.cancelled = threading.Event()
        self._job_id = "BeamApp-test_1"
        self.state = "RUNNING"

    def wait_until_finish(self, duration=None):
        deadline = time.monotonic() + (duration / 1000 if duration else 30)
        while time.monotonic() < deadline and not self.cancelled.is_set():
            time.sleep(0.05)
        return "CANCELLED" if self.cancelled.is_set() else "RUNNING"

    def cancel(self):
        self.cancelled.set()


class _Pipeline:
    def __init__(self, result):
        self._result = result

    def run(self):
        return self._result


def test_sigterm_cancels_the_job_and_restores_the_handler():
    result = _BlockingResult()
    options = PipelineOptions(["--runner=FlinkRunner", "--flink_master=[local]"])
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            streaming.run_streaming(_Pipeline(result), options, run_for=0)
    finally:
        timer.cancel()
    assert result.cancelled.is_set(), "SIGTERM did not cancel the job"
    assert signal.getsignal(signal.SIGTERM) is before
