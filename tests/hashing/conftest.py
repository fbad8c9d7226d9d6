"""Shared fixtures for the hashing tests: reference vectors (skipped when absent) and synthetic images.

Synthetic images are made in memory (or in pytest's tmp dirs); nothing here writes image bytes anywhere else.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def refvectors_dir() -> Path:
    return Path(os.environ.get("HASHWATCH_REFVECTORS", REPO.parent / "shared" / "refvectors"))


@pytest.fixture(scope="session")
def refvectors() -> Path:
    path = refvectors_dir()
    if not path.is_dir():
        pytest.skip(f"reference vectors not found at {path} (set HASHWATCH_REFVECTORS)")
    return path


def rand_hex(rng: random.Random, bits: int) -> str:
    """A random ``bits``-bit hash in hex."""
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def flip(rng: random.Random, value: str, k: int, bits: int) -> str:
    """``value`` with ``k`` distinct random bits flipped: exactly ``k`` bits away."""
    v = int(value, 16)
    for pos in rng.sample(range(bits), k):
        v ^= 1 << pos
    return f"{v:0{bits // 4}x}"


def synthetic_array(width: int, height: int, seed: int = 0, kind: str = "mixed") -> np.ndarray:
    """A deterministic RGB test picture: smooth blobs and gradients ("smooth"), value noise ("noise"), or
    their average ("mixed", the default: textured enough for a PDQ quality of 100)."""
    if kind == "mixed":
        a = synthetic_array(width, height, seed, "smooth").astype(np.uint16)
        b = synthetic_array(width, height, seed + 1000, "noise").astype(np.uint16)
        return ((a + b) // 2).astype(np.uint8)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    if kind == "noise":
        coarse = rng.random((max(2, height // 16), max(2, width // 16), 3))
        from PIL import Image

        up = [
            np.asarray(Image.fromarray((coarse[:, :, c] * 255).astype(np.uint8)).resize((width, height), 2))
            for c in range(3)
        ]
        return np.stack(up, axis=2).astype(np.uint8)
    for c in range(3):
        img[:, :, c] = 128 + 60 * np.sin(x / width * rng.uniform(2, 9) + rng.uniform(0, 6)) * np.cos(
            y / height * rng.uniform(2, 9) + rng.uniform(0, 6)
        )
    for _ in range(6):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.3) * max(width, height)
        val = rng.uniform(-90, 90, size=3)
        mask = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        img += mask[:, :, None] * val
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None, **save_args) -> bytes:
    """Encode a synthetic picture in memory (tests only)."""
    from PIL import Image

    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_args)
    return buf.getvalue()


@pytest.fixture()
def smooth_png() -> bytes:
    return encode(synthetic_array(320, 240, seed=1), "PNG")


@pytest.fixture()
def smooth_jpeg() -> bytes:
    return encode(synthetic_array(1600, 1200, seed=2), "JPEG", quality=90)
