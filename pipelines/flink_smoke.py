"""A small real pipeline that checks a runner set-up end to end: our code on the workers, a shuffle, Parquet.

It makes synthetic images (deterministic pixel patterns, no real photos), round-trips each through PNG
with Pillow in a DoFn of this package, hashes the pixels, groups the hashes by their first hex digit and
writes one Parquet row per group. A second output names the worker processes that ran the DoFn
(host, pid, Python executable, hashwatch version), so a test or a person can see where our code ran.

Run it wherever the real pipelines will run, before them::

    python -m pipelines.flink_smoke --output_dir=/shared/smoke --runner=FlinkRunner --flink_master=[local] \\
        --flink_job_server_jar=$(deploy/flink/fetch-job-server.sh)

Outputs, under ``--output_dir`` (a path every worker can write, see docs/flink.md):

- ``buckets/part-*.parquet``: bucket (hex digit), item_count, items (sorted ids), combined_sha256;
  the same rows on every runner and parallelism.
- ``workers/part-*.txt``: one line per worker process: ``host<TAB>pid<TAB>executable<TAB>version``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult

import hashwatch
from hashwatch.errors import UserError
from pipelines.options import apply_portable_runner_defaults

if __name__ == "__main__":  # pragma: no cover
    # `python -m pipelines.flink_smoke`: run the copy of this module imported under its package name, before
    # this __main__ copy defines anything. What __main__ defines is pickled by value, and the names it uses do
    # not exist on a remote SDK worker (NameError there); a second FlinkSmokeOptions would clash in argparse.
    from pipelines.flink_smoke import main

    sys.exit(main())

__all__ = ["BUCKETS_SCHEMA", "FlinkSmokeOptions", "HashSyntheticImages", "main", "run", "worker_identity"]

IMAGE_SIZE = (24, 24)

BUCKETS_SCHEMA = pa.schema(
    [
        ("bucket", pa.string()),
        ("item_count", pa.int64()),
        ("items", pa.list_(pa.int64())),
        ("combined_sha256", pa.string()),
    ]
)


class FlinkSmokeOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--output_dir", help="folder for buckets/ and workers/ (must be visible to all workers)"
        )
        parser.add_argument("--items", type=int, default=500, help="number of synthetic images (default 500)")


def worker_identity() -> str:
    """``host<TAB>pid<TAB>executable<TAB>hashwatch version`` of the calling process."""
    return "\t".join([socket.gethostname(), str(os.getpid()), sys.executable, hashwatch.__version__])


def synthetic_pixels(item: int) -> bytes:
    """A deterministic RGB pattern for one item: no real image content, different for every item."""
    width, height = IMAGE_SIZE
    pattern = bytes((item * 131 + k * 7 + (k // (3 * width)) * item) % 256 for k in range(width * height * 3))
    return item.to_bytes(4, "big") + pattern[4:]  # the first pixels spell the id: no two items alike


class _HashSyntheticImageDoFn(beam.DoFn):
    """item id -> {item, sha256, bucket}; tagged output ``workers``: this worker's identity."""

    WORKERS = "workers"

    def setup(self):
        from PIL import Image  # imported on the worker, as the real hashing DoFns do

        self._image_module = Image
        self._identity = worker_identity()

    def process(self, item: int) -> Iterator[Any]:
        image = self._image_module.frombytes("RGB", IMAGE_SIZE, synthetic_pixels(item))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        buffer.seek(0)
        with self._image_module.open(buffer) as decoded:
            pixels = decoded.convert("RGB").tobytes()
        digest = hashlib.sha256(pixels).hexdigest()
        yield {"item": item, "sha256": digest, "bucket": digest[0]}
        yield beam.pvalue.TaggedOutput(self.WORKERS, self._identity)


def _summarize_bucket(bucket: str, records: Iterable[dict]) -> dict:
    records = sorted(records, key=lambda r: r["item"])
    combined = hashlib.sha256("".join(r["sha256"] for r in records).encode("ascii")).hexdigest()
    return {
        "bucket": bucket,
        "item_count": len(records),
        "items": [r["item"] for r in records],
        "combined_sha256": combined,
    }


class HashSyntheticImages(beam.PTransform):
    """item ids -> one summary row per hash bucket (main output) and worker identities (``workers``).

    Example::

        outputs = ids | HashSyntheticImages()
        outputs["buckets"]   # {"bucket", "item_count", "items", "combined_sha256"}
        outputs["workers"]   # distinct worker_identity() strings
    """

    def expand(self, ids):
        hashed = (
            ids
            | "SpreadOverWorkers" >> beam.Reshuffle()
            | "HashImages"
            >> beam.ParDo(_HashSyntheticImageDoFn()).with_outputs(
                _HashSyntheticImageDoFn.WORKERS, main="hashes"
            )
        )
        buckets = (
            hashed.hashes
            | "KeyByBucket" >> beam.Map(lambda record: (record["bucket"], record))
            | "GroupByBucket" >> beam.GroupByKey()
            | "SummarizeBuckets" >> beam.MapTuple(_summarize_bucket)
        )
        workers = hashed[_HashSyntheticImageDoFn.WORKERS] | "DistinctWorkers" >> beam.Distinct()
        return {"buckets": buckets, "workers": workers}


def build(pipeline: beam.Pipeline, output: str, items: int) -> None:
    ids = pipeline | "CreateItems" >> beam.Create(range(items))
    outputs = ids | "HashSyntheticImages" >> HashSyntheticImages()
    outputs["buckets"] | "WriteBuckets" >> beam.io.WriteToParquet(
        f"{output}/buckets/part", BUCKETS_SCHEMA, file_name_suffix=".parquet"
    )
    outputs["workers"] | "WriteWorkers" >> beam.io.WriteToText(
        f"{output}/workers/part", file_name_suffix=".txt"
    )


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> PipelineResult:
    """Run the smoke pipeline to completion and return its result; raises if the job fails."""
    options = test_pipeline.options if test_pipeline is not None else PipelineOptions(argv)
    apply_portable_runner_defaults(options, list(argv or []))
    smoke = options.view_as(FlinkSmokeOptions)
    if not smoke.output_dir:
        raise UserError("--output_dir is required: a folder every worker can write")
    if smoke.items < 1:
        raise UserError(f"--items must be at least 1, not {smoke.items}")
    pipeline = test_pipeline if test_pipeline is not None else beam.Pipeline(options=options)
    build(pipeline, smoke.output_dir.rstrip("/"), smoke.items)
    result = pipeline.run()
    result.wait_until_finish()
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO)
    try:
        run(argv)
    except UserError as exc:
        print(f"flink_smoke: error: {exc}", file=sys.stderr)
        return 2
    return 0
