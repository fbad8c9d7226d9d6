"""Each test on the session's standalone cluster leaves it with no job running.

A test that fails part-way (a launcher killed in its ``finally``, an assertion before ``--run-for``) can leave
its streaming job running on the cluster, holding both task slots; every later job on the cluster then waits
for a slot forever (seen: a rescan test waiting 40 minutes behind a failed streaming test's job). After every
test that used ``flink_cluster``, jobs still running are cancelled, named in the test's output, and the test
that left one fails at teardown, so the leak is reported where it happened.
"""

from __future__ import annotations

import pytest

from hashwatch.flink.rest import TERMINAL_STATES, FlinkRest


@pytest.fixture(autouse=True)
def _no_job_left_on_the_cluster(request):
    yield
    if "flink_cluster" not in request.fixturenames:
        return
    cluster = request.getfixturevalue("flink_cluster")
    rest = FlinkRest(cluster.rest_url)
    left = [job for job in rest.jobs() if job["state"] not in TERMINAL_STATES]
    for job in left:
        rest.cancel(job["jid"])
    if left:
        rest.wait_until_terminal([job["jid"] for job in left], timeout=60)
        names = ", ".join(f"{job.get('name', '?')} ({job['jid']}, {job['state']})" for job in left)
        if not getattr(request.node, "rep_call_failed", False):
            pytest.fail(f"the test left jobs running on the cluster, now cancelled: {names}")
        print(f"cancelled jobs the failed test left on the cluster: {names}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    elif report.when == "setup" and report.failed:
        item.rep_call_failed = True
    return report
