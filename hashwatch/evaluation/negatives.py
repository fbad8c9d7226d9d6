"""Harder negatives (issue 23): pictures that are different from every list entry but look alike.

The distractors (clip art, manual figures, icons) are easy to tell from photos; these are not. Every kind is
made in memory, in the worker that hashes it (:class:`NegativeSource` is a recipe, its bytes exist only in
:meth:`NegativeSource.read`), and each negative belongs to one half of the split, like the pictures it is
made from:

- ``template: meme``, ``template: screenshot``, ``template: collage``: one fixed template (a meme's top and
  bottom bands of text, a program window with a title bar, side panel and text, a 2 x 2 grid with gaps)
  filled with other known pictures. A template holding picture B may match B (it shows B) but must not
  match any other list entry A: the list labels it holds are left out of its comparisons (``holds``);
- ``near-uniform``: flat colours, linear and radial gradients, low-texture fields (a flat colour with faint
  grain and soft low-contrast blobs), 640 x 480, generated from a seed;
- ``low quality``: distractor files scaled to 24-64 px on the long side, or re-encoded at JPEG quality 3-8.

Other shots of the same scene (the corpus's ``SAME_SCENE`` series) are negatives too: the runner keeps their
pairs apart (:func:`hashwatch.evaluation.runner.summarise`, ``same_scene_hist``) and the report gives them a
row of their own.

Example::

    negatives = build_negatives({TUNING: tuning, HELD_BACK: held}, {TUNING: d1, HELD_BACK: d2})
    hashed = hash_plain(negatives, matchers)
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from hashwatch.evaluation.runner import ImageSource

__all__ = ["NEGATIVE_KINDS", "NegativeSource", "build_negatives"]

NEGATIVE_KINDS: tuple[str, ...] = (
    "template: meme",
    "template: screenshot",
    "template: collage",
    "near-uniform",
    "low quality",
)
_SEED = "hashwatch-negatives-2026-12"


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(cv2.__version__.encode())
    for name in ("negatives.py", "edits_spec.py", "edits.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class NegativeSource(ImageSource):
    """A negative made on demand: ``recipe`` with its ``inputs`` (image sources) and ``seed``."""

    kind: str = ""
    recipe: str = ""
    seed: int = 0
    inputs: tuple[ImageSource, ...] = ()
    holds: tuple[str, ...] = ()  # list labels this negative shows (never compared with it)
    half: str = ""

    def read(self) -> bytes:
        return _make(self)


def _rgb(source: ImageSource, known: bool) -> np.ndarray:
    from PIL import Image

    from hashwatch.evaluation.edits import KnownSettings, make_known_original

    data = source.read()
    if known:  # what the list holds: the web-sized known original
        data = make_known_original(data, KnownSettings())
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", (1024, 1024))
    return np.asarray(img.convert("RGB"))


def _jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return buf.tobytes()


def _meme(rgb: np.ndarray) -> np.ndarray:
    """The fixed meme template: the picture at 600 px wide between a black top band (18 %) and bottom band
    (12 %), white text in both."""
    from hashwatch.evaluation.edits_spec import _resize, _text

    w = 600
    h = max(8, round(rgb.shape[0] * w / rgb.shape[1]))
    top, bottom = round(h * 0.18), round(h * 0.12)
    canvas = np.zeros((top + h + bottom, w, 3), np.uint8)
    canvas[top : top + h] = _resize(rgb, w, h)
    _text(canvas, "WHEN THE TEMPLATE IS THE SAME", 10, 0, w - 10, top, (255, 255, 255))
    _text(canvas, "but the picture is not", 10, top + h, w - 10, top + h + bottom, (255, 255, 255))
    return canvas


def _collage(pictures: Sequence[np.ndarray]) -> np.ndarray:
    """The fixed collage template: 2 x 2 cells of 400 x 300 px, 12 px white gaps."""
    from hashwatch.evaluation.edits_spec import _resize

    cw, ch, gap = 400, 300, 12
    canvas = np.full((2 * ch + 3 * gap, 2 * cw + 3 * gap, 3), 255, np.uint8)
    for i, rgb in enumerate(pictures[:4]):
        r, c = divmod(i, 2)
        y, x = gap + r * (ch + gap), gap + c * (cw + gap)
        canvas[y : y + ch, x : x + cw] = _resize(rgb, cw, ch)
    return canvas


def _near_uniform(recipe: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = 640, 480
    a = rng.integers(0, 256, 3).astype(np.float32)
    if recipe == "flat":
        return np.broadcast_to(a.astype(np.uint8), (h, w, 3)).copy()
    if recipe == "gradient":
        b = rng.integers(0, 256, 3).astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if rng.random() < 0.5:  # linear, any direction
            t = xx * np.cos(angle) + yy * np.sin(angle)
        else:  # radial, off centre
            t = np.hypot(xx - rng.uniform(0, w), yy - rng.uniform(0, h))
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        return (a * (1 - t[..., None]) + b * t[..., None]).astype(np.uint8)
    # low texture: a flat colour, faint grain and a few soft low-contrast blobs
    out = np.broadcast_to(a, (h, w, 3)).copy()
    for _ in range(int(rng.integers(2, 6))):
        blob = np.zeros((h, w), np.float32)
        cv2.circle(
            blob, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(40, 200)), 1.0, -1
        )
        blob = cv2.GaussianBlur(blob, (0, 0), 40)
        out += blob[..., None] * rng.uniform(-12, 12, 3).astype(np.float32)
    out += rng.normal(0, rng.uniform(1, 4), out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _make(neg: NegativeSource) -> bytes:
    if neg.kind == "near-uniform":
        return _png(_near_uniform(neg.recipe, neg.seed))
    if neg.recipe == "meme":
        return _jpeg(_meme(_rgb(neg.inputs[0], known=True)))
    if neg.recipe == "screenshot":
        from hashwatch.evaluation.edits_spec import screenshot

        # One template: the same draws for every picture (seed fixed), only the picture changes.
        canvas, _ = screenshot(_rgb(neg.inputs[0], known=True), np.random.default_rng(20261207))
        return _png(canvas)
    if neg.recipe == "collage":
        return _jpeg(_collage([_rgb(s, known=True) for s in neg.inputs]))
    rng = np.random.default_rng(neg.seed)
    rgb = _rgb(neg.inputs[0], known=False)
    if neg.recipe == "tiny":
        side = int(rng.integers(24, 65))
        scale = side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        return _jpeg(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), 75)
    if neg.recipe == "compressed":
        return _jpeg(rgb, int(rng.integers(3, 9)))
    raise ValueError(f"unknown negative recipe {neg.recipe!r}")


def _negative(kind: str, recipe: str, half: str, seed: int, inputs=(), holds=()) -> NegativeSource:
    ident = f"{_fingerprint()}/{recipe}/{seed}/" + "/".join(s.key for s in inputs)
    key = hashlib.sha256(ident.encode()).hexdigest()
    name = inputs[0].label if inputs else f"{seed}"
    return NegativeSource(
        key=key,
        label=f"negative/{recipe}/{name}",
        group="negatives",
        kind=kind,
        recipe=recipe,
        seed=seed,
        inputs=tuple(inputs),
        holds=tuple(holds),
        half=half,
    )


def build_negatives(
    known: Mapping[str, Sequence[ImageSource]],
    distractors: Mapping[str, Sequence[ImageSource]],
    *,
    uniform_per_recipe: int = 30,
    low_quality: int = 150,
) -> list[NegativeSource]:
    """The negatives of both halves: ``known[half]`` fills that half's templates (every picture once in a
    meme and a screenshot, in groups of four in collages); ``distractors[half]`` gives its low-quality files
    (the first ``low_quality`` in SHA-256 order, each scaled tiny and each re-encoded); each half gets
    ``uniform_per_recipe`` flat, gradient and low-texture pictures."""
    out: list[NegativeSource] = []
    for h, (half, pictures) in enumerate(known.items()):
        for p in pictures:
            out.append(_negative("template: meme", "meme", half, 0, (p,), (p.label,)))
            out.append(_negative("template: screenshot", "screenshot", half, 0, (p,), (p.label,)))
        ordered = sorted(pictures, key=lambda s: hashlib.sha256(f"{_SEED}/{s.key}".encode()).hexdigest())
        for i in range(0, len(ordered) - 3, 4):
            group = ordered[i : i + 4]
            out.append(
                _negative("template: collage", "collage", half, i, group, tuple(s.label for s in group))
            )
        for recipe in ("flat", "gradient", "low-texture"):
            for i in range(uniform_per_recipe):
                out.append(_negative("near-uniform", recipe, half, 1000 * h + i))
        files = sorted(
            distractors.get(half, ()), key=lambda s: hashlib.sha256(f"{_SEED}/{s.key}".encode()).hexdigest()
        )
        for i, d in enumerate(files[:low_quality]):
            out.append(_negative("low quality", "tiny", half, i, (d,)))
            out.append(_negative("low quality", "compressed", half, i, (d,)))
    return out
