"""One typed, frozen configuration of a crawl-and-match run: what the command line asked for, parsed once.

The command line is parsed at the top (:func:`pipelines.crawl_match.run_config_from`, every value checked
there: a bad one is a :class:`hashwatch.errors.UserError` before any work) into a :class:`RunConfig`, and
the graph below (:class:`transforms.crawl_and_match.CrawlAndMatch`) receives that object, never the flags.
Each part belongs to the library that uses it: :class:`~hashwatch.crawling.config.CrawlConfig`,
:class:`~hashwatch.hashing.image_hashes.HashConfig`, :class:`~hashwatch.hashing.known_hash_index.MatchOptions`;
the parts defined here are the run's own. All are picklable: Beam ships them to the workers inside the DoFns.

The defaults here are the flags' defaults (the flags read them from these classes), so there is one place
to change one::

    config = RunConfig(
        seeds=SeedConfig(("/data/seeds/*.txt",)),
        output=OutputConfig("/data/out"),
        known=KnownHashConfig(hash_lists=("/lists/iwf.csv",)),
    )
    config.streaming is None  # a batch run
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hashwatch.crawling.config import CrawlConfig
from hashwatch.hashing.image_hashes import HashConfig
from hashwatch.hashing.match_policy import MatchOptions
from hashwatch.video.video_hashes import VideoLimits
from hashwatch.video.video_match import VideoMatchOptions

__all__ = ["KnownHashConfig", "OutputConfig", "RunConfig", "SeedConfig", "StreamingConfig"]


@dataclass(frozen=True)
class SeedConfig:
    """Where the seeds come from: ``--seeds`` (files or globs; streaming: the one watched glob)."""

    patterns: tuple[str, ...] = ()
    url_column: str = "url"  # --seed-url-column: the URL column of CSV/TSV and Parquet seed files


@dataclass(frozen=True)
class KnownHashConfig:
    """What to match against: lists compiled at start (``--hash-list``) or a prebuilt index (``--index``,
    watched for new versions in a streaming run), and the allowlist."""

    hash_lists: tuple[str, ...] = ()
    index: str | None = None
    skip_invalid: bool = False
    allowlist: str | None = None


@dataclass(frozen=True)
class OutputConfig:
    """Where the tables and the manifest go, and how."""

    output_dir: str = ""
    run_id: str | None = None  # None: made at start (UTC time + a random suffix)
    parquet_codec: str = "zstd"
    allow_empty: bool = False  # a run that could detect nothing still exits 0
    progress_interval: float = 10.0  # seconds between progress lines; 0 turns them off


@dataclass(frozen=True)
class StreamingConfig:
    """The settings of an unbounded (``--streaming``) run; times are seconds."""

    seed_source: str = "folder"  # a name in transforms.seed_sources.SEED_SOURCES
    seed_poll_interval: float = 10.0
    window_length: float = 60.0
    allowed_lateness: float = 0.0
    dedupe_ttl: float = 24 * 3600.0
    refresh_index_interval: float = 300.0
    run_for: float = 0.0  # 0: until interrupted
    max_outage: float = 900.0  # 0: never give up on a cluster job that does not run


@dataclass(frozen=True)
class RunConfig:
    """The whole run. ``streaming`` is None for a batch run."""

    seeds: SeedConfig = field(default_factory=SeedConfig)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    hashing: HashConfig = field(default_factory=HashConfig)
    matching: MatchOptions = field(default_factory=MatchOptions)
    known: KnownHashConfig = field(default_factory=KnownHashConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    streaming: StreamingConfig | None = None
    # The video caps (--max-video-seconds, --max-video-frames, ...); max_bytes is crawl.max_video_bytes.
    video: VideoLimits = field(default_factory=VideoLimits)
    # The vPDQ rule's options (--vpdq-query-percent, --vpdq-compared-percent, --threshold vpdq=N / pdq=N).
    video_matching: VideoMatchOptions = field(default_factory=VideoMatchOptions)

    @property
    def run_id(self) -> str:
        """The run's id (set by :meth:`with_run_id` once the run starts)."""
        if not self.output.run_id:
            raise ValueError("the run has no id yet: RunConfig.with_run_id(run_id)")
        return self.output.run_id

    def with_run_id(self, run_id: str) -> RunConfig:
        return dataclasses.replace(self, output=dataclasses.replace(self.output, run_id=run_id))
