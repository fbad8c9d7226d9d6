"""A fake Flink REST API on 127.0.0.1 whose one job the test steers: state, tasks, restarts, failures.

with FakeFlink() as flink:
    flink.job.update(state="RUNNING")
    watch = FlinkJobWatch(flink.master, "BeamApp-x")
    flink.down()            # connection refused, as a dead JobManager
    flink.up(status=503)    # answers 503 "leader election", as a starting one
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

JOB_ID = "a" * 32
JOB_NAME = "BeamApp-test"


class FakeFlink:
    def __init__(self):
        self.job = {
            "state": "RUNNING",
            "tasks": "RUNNING",  # the status of every vertex
            "restarting_ms": 0,  # timestamps.RESTARTING
            "num_restarts": 0,
            "exceptions": [],  # exceptionHistory entries, newest last: {"timestamp", "stacktrace"}
            "root_exception": "",
            "restored_id": None,
            "savepoint": "file:/tmp/savepoints/savepoint-aaaaaa-1",
        }
        self.savepoint_refused = False  # as Flink while tasks are not all running
        self.stopped_with_savepoint = False
        self.cancelled = False
        self.status = 200
        self._server = None
        self.port = 0

    @property
    def master(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeFlink:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self, status: int = 200) -> None:
        """Serve (again, on the same port); ``status`` 503 answers every call as a JobManager whose leader
        election is under way."""
        self.status = status
        if self._server is not None:
            return
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                self._answer(fake.answer_get(urlparse(self.path)))

            def do_POST(self):  # noqa: N802
                self._answer(fake.answer_post(urlparse(self.path).path))

            def do_PATCH(self):  # noqa: N802
                fake.cancelled = True
                fake.job["state"] = "CANCELED"
                self._answer({})

            def _answer(self, body):
                code = fake.status
                if code != 200:
                    body = {"errors": ["Service temporarily unavailable due to an ongoing leader election."]}
                elif body is None:
                    code, body = 404, {"errors": ["not found"]}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop answering at all (connection refused), as a dead JobManager."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer_get(self, url):
        job, path = self.job, url.path
        if path == "/jobs/overview":
            return {"jobs": [{"jid": JOB_ID, "name": JOB_NAME, "state": job["state"], "start-time": 1}]}
        if path == f"/jobs/{JOB_ID}":
            return {
                "jid": JOB_ID,
                "state": job["state"],
                "timestamps": {"RESTARTING": job["restarting_ms"], "RUNNING": 1},
                "vertices": [{"id": "v1", "status": job["tasks"]}, {"id": "v2", "status": job["tasks"]}],
            }
        if path == f"/jobs/{JOB_ID}/metrics":
            assert parse_qs(url.query)["get"] == ["numRestarts"]
            return [{"id": "numRestarts", "value": str(job["num_restarts"])}]
        if path == f"/jobs/{JOB_ID}/exceptions" and parse_qs(url.query).get("maxExceptions") == ["100"]:
            return {"exceptionHistory": {"entries": list(job["exceptions"]), "truncated": False}}
        if path == f"/jobs/{JOB_ID}/exceptions":
            return {
                "root-exception": job["root_exception"],
                "timestamp": 1,
                "exceptionHistory": {"entries": list(job["exceptions"]), "truncated": False},
            }
        if path == f"/jobs/{JOB_ID}/checkpoints":
            restored = (
                {
                    "id": job["restored_id"],
                    "restore_timestamp": 1,
                    "is_savepoint": job["restored_id"] == 1,
                    "external_path": f"file:/c/chk-{job['restored_id']}",
                }
                if job["restored_id"]
                else None
            )
            return {
                "counts": {},
                "latest": {"completed": {"id": 9, "external_path": "file:/c/chk-9"}, "restored": restored},
            }
        if path.startswith(f"/jobs/{JOB_ID}/savepoints/"):
            return {"status": {"id": "COMPLETED"}, "operation": {"location": job["savepoint"]}}
        if path.endswith("/subtasks/metrics"):
            return []
        return None

    def answer_post(self, path):
        if path == f"/jobs/{JOB_ID}/stop" and not self.savepoint_refused:
            self.stopped_with_savepoint = True
            self.job["state"] = "FINISHED"
            return {"request-id": "r1"}
        return None
