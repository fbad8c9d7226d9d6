"""HashImages, hashing as a step of its own: fused with the step that made the bodies, never encoded.

The bodies are synthetic (Pillow) and live only in memory; nothing here writes one to disk.
"""

from __future__ import annotations

import io

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from hashwatch.crawling.image_handler import FetchedBody
from pipelines.options import EMBEDDED_RUNNER
from schemas.crawl import ImageTask
from schemas.fetch_log import FetchLogRecord
from transforms.hash_fetched import BodiesStayInMemory, FetchedImage, HashImages, ImageBytesLeftTheStage
from transforms.hash_images import HashImageBody

RUN_ID = "hash-step-test"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


def _fetched(url: str, body: bytes) -> FetchedImage:
    row = FetchLogRecord(
        run_id=RUN_ID,
        url=url,
        kind="image",
        depth=1,
        parent_url="http://127.0.0.1/page.html",
        outcome="ok",
        error_kind=None,
        error_message=None,
        http_status=200,
        final_url=url,
        redirect_count=0,
        robots="allowed",
        content_type="image/png",
        declared_content_type="image/png",
        bytes_length=len(body),
        attempts=1,
        fetched_at=0,
        elapsed_ms=1.0,
    )
    task = ImageTask(url, 1, ["http://127.0.0.1/page.html"], "http://127.0.0.1/")
    return FetchedImage(task, FetchedBody(body, url, 200, "image/png", "image/png", 0), row)


def _bodies(_):
    # Made inside the pipeline, as the fetching DoFn makes them: a Create would have to encode them.
    yield _fetched("http://127.0.0.1/good.png", _png())
    yield _fetched("http://127.0.0.1/broken.png", _png()[:40])


def test_the_coder_of_bodies_refuses_to_encode():
    coder = beam.coders.registry.get_coder(FetchedImage)
    assert isinstance(coder, BodiesStayInMemory)
    with pytest.raises(ImageBytesLeftTheStage):
        coder.encode(_fetched("http://127.0.0.1/a.png", b"x"))
    assert coder.estimate_size(_fetched("http://127.0.0.1/a.png", b"xyz")) == 3


def test_hash_images_gives_rows_their_outcome_and_records_their_hashes():
    with TestPipeline(runner=EMBEDDED_RUNNER) as p:
        bodies = p | beam.Create([0]) | beam.FlatMap(_bodies).with_output_types(FetchedImage)
        hashed = bodies | "HashImages" >> HashImages(RUN_ID, HashImageBody(RUN_ID), "hashwatch.FetchImages")
        outcomes = hashed.fetch_log | beam.Map(lambda r: (r.url.rsplit("/", 1)[1], r.outcome, r.error_kind))
        assert_that(
            outcomes,
            equal_to([("good.png", "ok", None), ("broken.png", "failed", "decode_error")]),
            label="rows",
        )
        # An undecodable body still gets its images/ row (it can match by MD5/SHA).
        records = hashed.images | beam.Map(
            lambda r: (r.image_url.rsplit("/", 1)[1], r.run_id, r.md5 is not None)
        )
        assert_that(
            records, equal_to([("good.png", RUN_ID, True), ("broken.png", RUN_ID, True)]), label="records"
        )


def test_a_runner_that_would_move_bodies_across_a_stage_fails_loudly():
    # A Flatten with a collection made in another stage cannot be fused on the FnApiRunner: the runner moves
    # both inputs through a buffer, encoding them with their coder, which stops the run before a byte moves.
    with (
        pytest.raises(Exception, match="image body was about to leave its stage"),
        TestPipeline(runner=EMBEDDED_RUNNER) as p,
    ):
        bodies = p | "One" >> beam.Create([0]) | beam.FlatMap(_bodies).with_output_types(FetchedImage)
        others = p | "None" >> beam.Create([]).with_output_types(FetchedImage)
        both = (bodies, others) | beam.Flatten()
        _ = both | HashImages(RUN_ID, HashImageBody(RUN_ID), "hashwatch.FetchImages")


def test_keyed_bodies_are_refused_by_a_shuffle_too():
    with (
        pytest.raises(Exception, match="image body was about to leave its stage"),
        TestPipeline(runner=EMBEDDED_RUNNER) as p,
    ):
        bodies = p | beam.Create([0]) | beam.FlatMap(_bodies).with_output_types(FetchedImage)
        keyed = bodies | beam.Map(lambda b: (b.task.image_url, b)).with_output_types(tuple[str, FetchedImage])
        _ = keyed | beam.GroupByKey()


class _Raising:
    def setup(self):
        pass

    def __call__(self, task, fetched):
        raise ValueError(f"bad bytes {fetched.body[:8]!r}")  # its text must not reach the row


def test_a_handler_that_raises_fails_the_row_without_its_message():
    with TestPipeline(runner=EMBEDDED_RUNNER) as p:
        bodies = p | beam.Create([0]) | beam.FlatMap(_bodies).with_output_types(FetchedImage)
        hashed = bodies | HashImages(RUN_ID, _Raising(), "hashwatch.FetchImages")
        rows = hashed.fetch_log | beam.Map(lambda r: (r.outcome, r.error_kind, r.error_message))
        expected = ("failed", "internal", "image handler raised ValueError")
        assert_that(rows, equal_to([expected, expected]), label="rows")
        assert_that(hashed.images, equal_to([]), label="no records")


def test_an_animation_over_the_frame_cap_is_a_failed_fetch_with_its_error_kind_and_keeps_its_row():
    """As a video over its frame cap: the frames before the cap are hashed and kept in images/, and the
    fetch_log row says why the rest were not (never a silent partial hash)."""
    from hashwatch.hashing.animation import AnimationConfig
    from hashwatch.hashing.image_hashes import HashConfig
    from hashwatch.sites.synthetic_animations import make_animation
    from schemas.outcomes import ERROR_KINDS

    body = make_animation("GIF", [1, 2, 3, 4])
    task = ImageTask("http://127.0.0.1/a.gif", 1, ["http://127.0.0.1/p"], "http://127.0.0.1/p")
    fetched = FetchedBody(body, task.image_url, 200, "image/gif", "image/gif", 0)
    capped = HashImageBody(RUN_ID, HashConfig(animation=AnimationConfig(max_frames=2)))(task, fetched)
    assert capped.error_kind == "too_many_frames" and capped.error_kind in ERROR_KINDS
    assert capped.record is not None and capped.record.frames_hashed == 2
    whole = HashImageBody(RUN_ID)(task, fetched)
    assert whole.error_kind is None and whole.record.frames_hashed == 4
