"""The edit suite: what re-uploaders do to an image, each edit a named, parameterised function at a strength.

An :class:`Edit` is one function of this module at one strength, plus how the result is encoded (JPEG at
quality 90 unless the edit is about the encoding: ``jpeg`` sets its own quality, ``screenshot`` writes PNG).
Everything happens in memory; :meth:`Edit.apply` returns the encoded bytes, which the runner hashes and
drops.

Definitions (``p`` is a percentage, ``w`` and ``h`` the image's width and height):

- ``resize`` scale ``s``: Lanczos to ``s*w x s*h``.  ``stretch`` ``f``: width times ``f``, height kept.
- ``jpeg`` quality ``q``: re-encoded, nothing else.  ``screenshot`` scale ``s``: bilinear resize, saved as PNG.
- ``crop_center`` ``p``: width and height each lose ``p`` %, half on each side. ``crop_corner`` ``p``: the
  same loss, all of it on the right and bottom.
- ``border`` ``p`` (black) / ``border_white`` ``p``: width and height each grow by ``p`` %, half on each side.
  ``pad_square``: black bars to a square canvas.
- ``grayscale``; ``brightness``, ``contrast`` factor ``f`` (Pillow's ImageEnhance); ``gamma`` ``g``
  (``255 * (v / 255) ** g``).
- ``blur`` radius ``r`` px (Gaussian); ``sharpen`` ``p`` % (unsharp mask, radius 2); ``noise`` sigma ``s``
  (Gaussian, per channel, seeded).
- ``caption`` ``p``: a black band ``p`` % of the height added below, with white text. ``text`` ``p``: white
  outlined text ``p`` % of the height tall across the lower part of the image. ``logo`` ``p``: an opaque
  badge covering ``p`` % of the area in the lower right corner.
- ``flip_horizontal``, ``flip_vertical``; ``rotate90`` by 90, 180, 270 degrees (counter-clockwise, Pillow's
  transposes); ``rotate`` by small angles (bicubic, canvas expanded, black corners).

Edits start from the *known original* (:func:`make_known_original`): the corpus image scaled to fit
:class:`KnownSettings` ``max_side`` (1024 px) and saved as JPEG quality 95, what a hotline would hold.

:data:`EDIT_SUITE` is the full suite the evaluation runs; :data:`QUICK_EDIT_IDS` the subset the test suite
runs on synthetic images.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

__all__ = [
    "EDIT_SUITE",
    "FAMILIES",
    "QUICK_EDIT_IDS",
    "Edit",
    "KnownSettings",
    "make_known_original",
    "edits_by_id",
    "select_edits",
]

Transform = Callable[[Image.Image], Image.Image]


@dataclass(frozen=True)
class Edit:
    """One edit at one strength. ``transform`` is None for the unedited original (its bytes are reused)."""

    family: str  # the row group in the tables: "resize", "crop", "colour", ...
    name: str  # the function: "crop_center", "brightness", ...
    strength: float | None  # the function's parameter (None: the edit has none)
    unit: str  # how the strength reads: "x", "%", "q", "deg", "px", ""
    transform: Transform | None
    fmt: str = "JPEG"
    quality: int = 90

    @property
    def id(self) -> str:
        """Stable identifier, e.g. ``crop_center@5`` or ``grayscale``."""
        return self.name if self.strength is None else f"{self.name}@{_num(self.strength)}"

    @property
    def label(self) -> str:
        """Human-readable, e.g. ``crop_center 5 %``, ``resize 0.5x``, ``jpeg q20``."""
        if self.strength is None:
            return self.name
        s = _num(self.strength)
        if self.unit in ("x", "q"):
            return f"{self.name} {s}x" if self.unit == "x" else f"{self.name} q{s}"
        return f"{self.name} {s} {self.unit}".rstrip()

    def apply(self, image: Image.Image, original: bytes) -> bytes:
        """The edited copy of ``image`` (RGB), encoded; the original's own bytes for the identity edit."""
        if self.transform is None:
            return original
        out = self.transform(image)
        buffer = io.BytesIO()
        if self.fmt == "PNG":
            out.save(buffer, format="PNG", compress_level=1)
        else:
            out.convert("RGB").save(buffer, format="JPEG", quality=self.quality)
        return buffer.getvalue()


def _num(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------- the known original


@dataclass(frozen=True)
class KnownSettings:
    """How a corpus image becomes a known original: longest side at most ``max_side``, JPEG ``quality``."""

    max_side: int = 1024
    quality: int = 95

    @property
    def cache_kind(self) -> str:
        return f"known-{self.max_side}-q{self.quality}"


def _rgb(data: bytes, max_side: int | None = None):
    """Decode to RGB (first frame; transparency composited on white), scaled to fit ``max_side``."""
    img = Image.open(io.BytesIO(data))
    if max_side and img.format == "JPEG":
        img.draft("RGB", (max_side, max_side))  # libjpeg's DCT scaling keeps both sides >= the request
    img.load()
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, (255, 255, 255))
        img.paste(rgba, mask=rgba.getchannel("A"))
    else:
        img = img.convert("RGB")
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return img


def make_known_original(data: bytes, settings: KnownSettings) -> bytes:
    """The known original of a corpus image: scaled to fit ``settings.max_side``, JPEG ``settings.quality``."""
    buffer = io.BytesIO()
    _rgb(data, settings.max_side).save(buffer, format="JPEG", quality=settings.quality)
    return buffer.getvalue()


# ---------------------------------------------------------------- the edit functions


def resize(image: Image.Image, scale: float) -> Image.Image:
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def stretch(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((max(1, round(image.width * factor)), image.height), Image.Resampling.LANCZOS)


def screenshot(image: Image.Image, scale: float) -> Image.Image:
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def unchanged(image: Image.Image) -> Image.Image:
    return image


def crop_center(image: Image.Image, percent: float) -> Image.Image:
    dx, dy = round(image.width * percent / 200), round(image.height * percent / 200)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def crop_corner(image: Image.Image, percent: float) -> Image.Image:
    keep = 1 - percent / 100
    return image.crop((0, 0, round(image.width * keep), round(image.height * keep)))


def border(image: Image.Image, percent: float, colour: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    dx, dy = round(image.width * percent / 200), round(image.height * percent / 200)
    return ImageOps.expand(image, border=(dx, dy, dx, dy), fill=colour)


def pad_square(image: Image.Image) -> Image.Image:
    side = max(image.size)
    canvas = Image.new("RGB", (side, side), (0, 0, 0))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def grayscale(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def brightness(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def contrast(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(factor)


def gamma(image: Image.Image, g: float) -> Image.Image:
    lut = [min(255, round(255 * (v / 255) ** g)) for v in range(256)]
    return image.point(lut * len(image.getbands()))


def blur(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def sharpen(image: Image.Image, percent: float) -> Image.Image:
    return image.filter(ImageFilter.UnsharpMask(radius=2, percent=int(percent), threshold=0))


def noise(image: Image.Image, sigma: float) -> Image.Image:
    rng = np.random.default_rng(20261125)
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(sigma)
    return Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), image.mode)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, size))


def _fit_text(draw: ImageDraw.ImageDraw, text: str, size: int, max_width: int):
    """The largest font no taller than ``size`` whose rendering of ``text`` fits ``max_width``."""
    font = _font(size)
    while size > 8 and draw.textlength(text, font=font) > max_width:
        size = int(size * 0.9)
        font = _font(size)
    return font


def caption(image: Image.Image, percent: float) -> Image.Image:
    band = max(8, round(image.height * percent / 100))
    canvas = Image.new("RGB", (image.width, image.height + band), (0, 0, 0))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    text = "when the caption says it all"
    font = _fit_text(draw, text, int(band * 0.6), int(image.width * 0.9))
    draw.text((image.width / 2, image.height + band / 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    return canvas


def text(image: Image.Image, percent: float) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    size = max(8, round(image.height * percent / 100))
    words = "SAMPLE TEXT OVER THE PICTURE"
    font = _fit_text(draw, words, size, int(image.width * 0.95))
    draw.text(
        (image.width / 2, image.height * 0.82),
        words,
        fill=(255, 255, 255),
        font=font,
        anchor="mm",
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )
    return out


def logo(image: Image.Image, percent: float) -> Image.Image:
    out = image.copy()
    area = image.width * image.height * percent / 100
    w = round((area * 2) ** 0.5)  # a 2:1 badge
    h = max(4, round(area / max(w, 1)))
    margin = round(min(image.size) * 0.03)
    x1, y1 = image.width - margin, image.height - margin
    x0, y0 = x1 - w, y1 - h
    draw = ImageDraw.Draw(out)
    draw.rounded_rectangle((x0, y0, x1, y1), radius=h // 4, fill=(200, 30, 40))
    draw.ellipse((x0 + h * 0.15, y0 + h * 0.15, x0 + h * 0.85, y0 + h * 0.85), fill=(255, 255, 255))
    font = _fit_text(draw, "LOGO", int(h * 0.6), int(w - h))
    draw.text((x0 + h + (w - h) / 2, (y0 + y1) / 2), "LOGO", fill=(255, 255, 255), font=font, anchor="mm")
    return out


def flip_horizontal(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def flip_vertical(image: Image.Image) -> Image.Image:
    return ImageOps.flip(image)


_TRANSPOSES = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def rotate90(image: Image.Image, degrees: float) -> Image.Image:
    return image.transpose(_TRANSPOSES[int(degrees)])


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))


# ---------------------------------------------------------------- the suite


@dataclass(frozen=True)
class _At:
    """``fn`` bound to one strength: ``fn(image, strength)``; picklable (worker processes get edits)."""

    fn: Callable[..., Image.Image]
    strength: float

    def __call__(self, image: Image.Image) -> Image.Image:
        return self.fn(image, self.strength)


def _border_white(image: Image.Image, percent: float) -> Image.Image:
    return border(image, percent, (255, 255, 255))


def _series(family: str, name: str, fn, strengths: Sequence[float], unit: str, **encoding) -> list[Edit]:
    return [Edit(family, name, s, unit, _At(fn, s), **encoding) for s in strengths]


def _one(family: str, fn: Transform) -> Edit:
    return Edit(family, fn.__name__, None, "", fn)


def _suite() -> tuple[Edit, ...]:
    edits: list[Edit] = [Edit("original", "original", None, "", None)]
    edits += _series("resize", "resize", resize, (0.25, 0.5, 0.75, 1.5, 2), "x")
    edits += [Edit("re-encode", "jpeg", q, "q", unchanged, quality=q) for q in (20, 35, 50, 75, 95)]
    edits += _series("crop", "crop_center", crop_center, (2, 5, 10, 15, 20), "%")
    edits += _series("crop", "crop_corner", crop_corner, (5, 10, 20), "%")
    edits += _series("border", "border", border, (2, 5, 10, 20), "%")
    edits += _series("border", "border_white", _border_white, (5, 10), "%")
    edits += [_one("border", pad_square)]
    edits += [_one("colour", grayscale)]
    edits += _series("colour", "brightness", brightness, (0.6, 0.8, 1.2, 1.4), "x")
    edits += _series("colour", "contrast", contrast, (0.6, 0.8, 1.25, 1.5), "x")
    edits += _series("colour", "gamma", gamma, (0.6, 0.8, 1.25, 1.6), "")
    edits += _series("blur/sharpen", "blur", blur, (1, 2, 4), "px")
    edits += _series("blur/sharpen", "sharpen", sharpen, (100, 200, 300), "%")
    edits += _series("noise", "noise", noise, (5, 10, 20), "sigma")
    edits += _series("overlay", "caption", caption, (10, 20), "%")
    edits += _series("overlay", "text", text, (5, 10), "%")
    edits += _series("overlay", "logo", logo, (2, 5, 10), "%")
    edits += [_one("flip", flip_horizontal), _one("flip", flip_vertical)]
    edits += _series("rotate 90", "rotate90", rotate90, (90, 180, 270), "deg")
    edits += _series("rotate small", "rotate", rotate, (2, 5, 10), "deg")
    edits += _series("stretch", "stretch", stretch, (0.8, 1.1, 1.25), "x")
    edits += _series("screenshot", "screenshot", screenshot, (0.5, 0.8, 1.25), "x", fmt="PNG")
    return tuple(edits)


EDIT_SUITE: tuple[Edit, ...] = _suite()

# Families in table order.
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(e.family for e in EDIT_SUITE))

# The test suite's subset (tests/evaluation): one or two strengths of every family, cheap to compute.
QUICK_EDIT_IDS: tuple[str, ...] = (
    "original",
    "resize@0.5",
    "resize@2",  # 1280 px: exercises the JPEG draft decode
    "jpeg@35",
    "crop_center@2",
    "border@5",
    "grayscale",
    "brightness@1.2",
    "gamma@0.8",
    "blur@1",
    "noise@5",
    "logo@2",
    "flip_horizontal",
    "rotate90@90",
    "rotate90@270",
    "rotate@2",
    "stretch@1.1",
    "screenshot@0.8",
)


def edits_by_id() -> dict[str, Edit]:
    return {e.id: e for e in EDIT_SUITE}


def select_edits(ids: Sequence[str] | None = None, families: Sequence[str] | None = None) -> tuple[Edit, ...]:
    """The suite's edits with these ids and/or in these families (None: no filter), in suite order."""
    by_id = edits_by_id()
    unknown = [i for i in ids or () if i not in by_id]
    if unknown:
        raise ValueError(f"unknown edits: {', '.join(unknown)} (known: {', '.join(by_id)})")
    unknown_f = [f for f in families or () if f not in FAMILIES]
    if unknown_f:
        raise ValueError(f"unknown edit families: {', '.join(unknown_f)} (known: {', '.join(FAMILIES)})")
    return tuple(
        e for e in EDIT_SUITE if (ids is None or e.id in ids) and (families is None or e.family in families)
    )
