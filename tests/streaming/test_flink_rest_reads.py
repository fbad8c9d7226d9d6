"""The late-drop read against a fake Flink REST API on 127.0.0.1: counts summed over operators, an error
logged when there are drops, and a broken answer never raises (the cancel after it must still happen)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from pipelines import streaming_launcher as streaming

METRIC = "Collect.org_apache_beam_runners_core_LateDataDroppingDoFnRunner_droppedDueToLateness"


def _answers(broken: bool):
    def answer(path: str, query: dict):
        if broken:
            return b"<html>not json"
        if path == "/jobs/overview":
            return {"jobs": [{"jid": "j1", "name": "BeamApp-x", "state": "RUNNING"}]}
        if path == "/jobs/j1":
            return {"vertices": [{"id": "v1"}, {"id": "v2"}]}
        if path.endswith("/subtasks/metrics") and "get" not in query:
            ids = [METRIC, "numRecordsOut"] if "/v1/" in path else ["numRecordsOut"]
            return [{"id": i} for i in ids]
        if path == "/jobs/j1/vertices/v1/subtasks/metrics":
            assert query["get"] == [METRIC] and query["agg"] == ["sum"]
            return [{"id": METRIC, "sum": 5.0}]
        raise AssertionError(path)

    return answer


@pytest.fixture
def fake_flink(request):
    answer = _answers(request.param)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            body = answer(url.path, parse_qs(url.query))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("fake_flink", [False], indirect=True)
def test_drops_are_summed_and_logged_as_an_error(fake_flink, caplog):
    assert streaming.flink_late_drops(fake_flink, "j1") == {METRIC: 5}
    with caplog.at_level(logging.INFO, logger="hashwatch.streaming"):
        assert streaming._read_late_drops(fake_flink, "BeamApp-x") == 5
    assert [r.levelname for r in caplog.records if "dropped 5 element" in r.message] == ["ERROR"]


@pytest.mark.parametrize("fake_flink", [True], indirect=True)
def test_a_broken_answer_is_a_warning_not_a_crash(fake_flink, caplog):
    with caplog.at_level(logging.WARNING, logger="hashwatch.streaming"):
        assert streaming._read_late_drops(fake_flink, "BeamApp-x") is None
    assert any("could not read" in r.message for r in caplog.records)
