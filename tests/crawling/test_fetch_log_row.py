"""The fetch_log row is built in one place (``LoggedUrl.row``), and what it takes from where."""

import ast
from pathlib import Path

from hashwatch.crawling.fetch_log_row import LoggedUrl
from hashwatch.crawling.fetcher import FetchResult
from schemas.outcomes import (
    KIND_IMAGE,
    KIND_PAGE,
    OUTCOME_FAILED,
    OUTCOME_OK,
    OUTCOME_SKIPPED,
    ROBOTS_NOT_APPLICABLE,
)

REPO = Path(__file__).resolve().parents[2]
URL = LoggedUrl("run-1", "http://a.test/x.png", KIND_IMAGE, 2, "http://a.test/")


def _builders(path: Path) -> list[int]:
    """Lines of ``path`` that call ``FetchLogRecord(...)``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FetchLogRecord"
    ]


def test_only_fetch_log_row_builds_a_fetch_log_record():
    """crawl_worker and frontier each wrote the whole row out (four times in all); a fifth copy would drift."""
    sources = [
        *sorted((REPO / "hashwatch" / "crawling").glob("*.py")),
        *sorted((REPO / "transforms").glob("*.py")),
    ]
    found = {str(path.relative_to(REPO)): lines for path in sources if (lines := _builders(path))}
    assert found.keys() == {"hashwatch/crawling/fetch_log_row.py"}, found


def test_a_fetch_gives_its_own_outcome_and_response_facts():
    result = FetchResult(
        URL.url,
        status=404,
        final_url="http://a.test/y.png",
        redirect_chain=("http://a.test/y.png",),
        content_type=None,
        declared_content_type="text/html",
        bytes_length=12,
        outcome=OUTCOME_FAILED,
        error_kind="http_4xx",
        error_message="HTTP 404\n  Not Found",
        requests_made=3,
        elapsed_s=0.25,
    )
    row = URL.row(result=result, robots="allowed", fetched_at=7)
    assert (row.outcome, row.error_kind, row.error_message) == (
        OUTCOME_FAILED,
        "http_4xx",
        "HTTP 404 Not Found",
    )
    assert (row.http_status, row.final_url, row.redirect_count, row.attempts) == (
        404,
        "http://a.test/y.png",
        1,
        2,
    )
    assert (row.declared_content_type, row.bytes_length, row.elapsed_ms, row.fetched_at) == (
        "text/html",
        12,
        250.0,
        7,
    )
    assert (row.run_id, row.url, row.kind, row.depth, row.parent_url, row.robots) == (
        "run-1", URL.url, KIND_IMAGE, 2, "http://a.test/", "allowed",
    )  # fmt: skip


def test_an_outcome_given_wins_over_the_fetch():
    """E.g. a fetch that went well of a body that is not an image: failed/not_an_image, the response kept."""
    result = FetchResult(URL.url, status=200, content_type="text/html", requests_made=1)
    row = URL.row(OUTCOME_FAILED, "not_an_image", "body is text/html, not an image", result=result)
    assert (row.outcome, row.error_kind, row.http_status, row.attempts) == (
        OUTCOME_FAILED,
        "not_an_image",
        200,
        1,
    )
    assert URL.row(OUTCOME_OK, None, None, result=FetchResult(URL.url, error_kind="x")).outcome == OUTCOME_OK


def test_a_url_decided_before_any_request_has_no_response_facts():
    row = LoggedUrl("r", "http://b.test/", KIND_PAGE, 3, None).row(
        OUTCOME_SKIPPED, "max_depth", "deeper than 2"
    )
    assert (row.outcome, row.error_kind, row.error_message, row.robots) == (
        OUTCOME_SKIPPED, "max_depth", "deeper than 2", ROBOTS_NOT_APPLICABLE,
    )  # fmt: skip
    assert (row.http_status, row.final_url, row.redirect_count, row.content_type) == (None, None, 0, None)
    assert (row.declared_content_type, row.bytes_length, row.attempts, row.elapsed_ms) == (None, None, 0, 0.0)
    assert row.fetched_at > 1_700_000_000_000_000  # now, in epoch microseconds


def test_a_bug_is_one_row_without_the_exception_text():
    row = URL.internal(ValueError("the body was <svg ...>"))
    assert (row.outcome, row.error_kind) == (OUTCOME_FAILED, "internal")
    assert row.error_message == "unexpected ValueError while crawling (a hashwatch bug)"
