"""Seeded synthetic animations (animated GIF, WebP, APNG) of benign pictures, made in memory.

Each frame is a :func:`~hashwatch.sites.synthetic_images.synthetic_photo` of its seed, so frames of different
seeds have unrelated hashes and a frame can be listed by hashing the same picture as a still image::

    data = make_animation("GIF", [1, 2, 3])                   # 3 distinct frames
    data = make_animation("WEBP", [1, 1, 2], jitter=3)        # frames 0 and 1 near-duplicates
    listed = synthetic_photo(2, (320, 240))                   # frame 2's picture

Nothing is written to disk: tests and the demo sites keep the bytes in memory.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from hashwatch.sites.synthetic_images import synthetic_photo

__all__ = ["ANIMATION_FORMATS", "animation_frames", "encode_animation", "make_animation"]

# Pillow format name -> the file's usual extension and content type.
ANIMATION_FORMATS = {
    "GIF": (".gif", "image/gif"),
    "WEBP": (".webp", "image/webp"),
    "PNG": (".png", "image/apng"),
}


def animation_frames(
    seeds: Sequence[int], size: tuple[int, int] = (320, 240), *, jitter: int = 0
) -> list[Image.Image]:
    """One RGB picture per seed. ``jitter``: every frame gets noise of its own, up to that many levels (a
    repeated seed is then a near-duplicate, not an identical frame, which the GIF, WebP and APNG encoders
    would merge into the previous one). Measured PDQ distance of such near-duplicates to the first of a run
    (12 seeds): GIF jitter 1 at most 8 bits (its palette), WebP jitter 3 at most 8, APNG jitter 1 at most
    2; different seeds 106 bits or more."""
    frames = []
    for position, seed in enumerate(seeds):
        picture = synthetic_photo(seed, size)
        if jitter:
            rng = np.random.default_rng(10_000 + position)
            noisy = np.asarray(picture, dtype=np.int16) + rng.integers(
                -jitter, jitter + 1, (size[1], size[0], 3)
            )
            picture = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
        frames.append(picture)
    return frames


def encode_animation(frames: Sequence[Image.Image], fmt: str = "GIF", duration_ms: int = 100) -> bytes:
    """An animation of ``frames`` in ``fmt`` (``GIF``, ``WEBP`` or ``PNG`` for APNG), in memory."""
    if fmt not in ANIMATION_FORMATS:
        raise ValueError(f"animation format must be one of {', '.join(ANIMATION_FORMATS)}, not {fmt!r}")
    buffer = io.BytesIO()
    params: dict = {"save_all": True, "append_images": list(frames[1:]), "duration": duration_ms, "loop": 0}
    if fmt == "WEBP":
        params.update(quality=90, method=0)
    if fmt == "GIF":
        params.update(optimize=False)
    frames[0].save(buffer, format=fmt, **params)
    return buffer.getvalue()


def make_animation(
    fmt: str, seeds: Sequence[int], size: tuple[int, int] = (320, 240), *, jitter: int = 0
) -> bytes:
    """An animation whose frame ``i`` shows ``synthetic_photo(seeds[i], size)``."""
    return encode_animation(animation_frames(seeds, size, jitter=jitter), fmt)
