"""Seeded synthetic "photos" and the edits re-uploaders make to them.

The images are smooth colour fields with shapes and fine texture, so perceptual hashes have structure to work
on (PDQ quality well above 50) and different seeds give unrelated hashes.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

__all__ = ["EDITS", "encode", "synthetic_photo"]


def synthetic_photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A deterministic RGB image for ``seed``: smooth colour field, random shapes, mild blur and grain."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.integers(0, 256, size=(rng.integers(3, 7), rng.integers(3, 7), 3), dtype=np.uint8)
    image = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 14))):
        x0, x1 = sorted(rng.integers(0, width, 2).tolist())
        y0, y1 = sorted(rng.integers(0, height, 2).tolist())
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1 + 8, y1 + 8), fill=colour)
        else:
            draw.rectangle((x0, y0, x1 + 8, y1 + 8), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(radius=max(1.0, width / 400)))
    grain = rng.normal(0, 6, size=(height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    """Encode an image to bytes in memory (JPEG quality 90 unless given)."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        params.setdefault("quality", 90)
        image = image.convert("RGB")
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _crop(fraction: float) -> Callable[[Image.Image], Image.Image]:
    def crop(image: Image.Image) -> Image.Image:
        dx, dy = int(image.width * fraction), int(image.height * fraction)
        return image.crop((dx, dy, image.width - dx, image.height - dy))

    return crop


def _bordered(image: Image.Image) -> Image.Image:
    """A white frame, 6 % of the width on every side."""
    return ImageOps.expand(image, border=max(2, round(image.width * 0.06)), fill=(255, 255, 255))


def _captioned(image: Image.Image) -> Image.Image:
    """A black caption band below, 15 % of the height, with white text."""
    band = max(12, round(image.height * 0.15))
    canvas = Image.new("RGB", (image.width, image.height + band), (0, 0, 0))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(8, int(band * 0.5)))
    draw.text(
        (image.width / 2, image.height + band / 2),
        "look at this",
        fill=(255, 255, 255),
        font=font,
        anchor="mm",
    )
    return canvas


# name -> (edit, output format, encode params). Each is something a re-uploader does.
EDITS: dict[str, tuple[Callable[[Image.Image], Image.Image], str, dict]] = {
    "resized": (lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), "JPEG", {}),
    "reencoded": (lambda im: im, "JPEG", {"quality": 35}),
    "png": (lambda im: im, "PNG", {}),
    "grayscale": (lambda im: ImageOps.grayscale(im).convert("RGB"), "JPEG", {}),
    "cropped": (_crop(0.03), "JPEG", {}),
    "flipped": (ImageOps.mirror, "JPEG", {}),
    "rotated90": (lambda im: im.transpose(Image.Transpose.ROTATE_90), "JPEG", {}),
    "brighter": (lambda im: im.point(lambda v: min(255, int(v * 1.15))), "JPEG", {}),
    "bordered": (_bordered, "JPEG", {}),
    "captioned": (_captioned, "JPEG", {}),
}
