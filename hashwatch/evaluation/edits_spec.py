"""The held-back edit suite (issue 23, ``--suite v2``): edits written from a specification, with OpenCV.

The query-side candidates that undo edits are written with numpy and Pillow; these edits are written with
OpenCV (resampling, rotation, text, JPEG encoding), from the words below and not from the candidates' code,
so an edit and its undoing do not share an implementation. Each edit draws its parameters from a range with
:func:`~hashwatch.evaluation.split.edit_rng` (``half``, picture label, edit id): the held-back half's angles,
bands and crops were never seen while tuning, though both halves draw from the same ranges.

**Specification** (the issue's words; ``w x h`` the picture's size; every copy JPEG quality 90 unless said):

- *rotate cropped*: rotation by 0.5-6 degrees, either way, with the corners cropped, as people do it: the
  canvas keeps its size and the largest centred rectangle of the picture's aspect that holds no corner fill
  is scaled back to ``w x h`` (no fill colour left anywhere).
- *rotate expanded*: rotation by 0.5-6 degrees with the canvas expanded to hold the whole picture, the
  corners filled with black, white or a grey.
- *band*: a band or caption box over 5-25 % of the picture's height, at the top, the bottom or across
  (anywhere between), full width or a box of 60-100 % of the width, *opaque* (a plain colour) or
  *translucent* (alpha 0.35-0.75), with a line of text drawn in it. Painted over the picture: the size is kept.
- *crop+rescale*: 3-20 % of the width and of the height cut away (split between the two sides at random),
  the rest resized back to ``w x h``.
- *border*: a border of 2-15 % of each side's length, all sides, in black, white, grey or a random colour;
  *letterbox*: bars added to reach 16:9, 4:3, 1:1 or 9:16 (top and bottom, or left and right), black or a colour.
- *aspect*: width or height (not both) scaled by 0.7-0.9 or 1.1-1.4.
- *screenshot*: the picture (scaled to 45-75 % of the canvas width) pasted into a larger canvas drawn as a
  program's window: a title bar with buttons, a side panel with lines of text, text below the picture.
  Saved as PNG.
- *collage*: the picture in one cell of a grid of 2-4 cells (1x2, 2x1 or 2x2) with gaps of 1-4 % in a plain
  colour; the other cells hold synthetic pictures (shapes on gradients, drawn with OpenCV), never another
  corpus picture (which would be a true match of another list entry).
- *jpeg low*: very low JPEG quality, 5-15.
- *mirrored crop*: mirrored left-right and 5-20 % cut from the width and height (not resized back).
- *combined*: two of {rotate cropped, band, crop+rescale, border, aspect, jpeg low, resize} applied in turn.
- Kept from the first suite (so families stay comparable), their strengths drawn too: *resize* 0.3-0.7x
  and 1.3-2x (area / cubic), *re-encode* JPEG 30-85, *colour* grayscale, brightness 0.7-1.3, contrast
  0.7-1.4, gamma 0.7-1.45, *blur/sharpen* Gaussian sigma 0.8-2.5 and unsharp amount 0.5-2, *noise*
  Gaussian sigma 4-15, *flip* left-right and top-bottom, *rotate 90* by 90, 180 or 270 degrees.

Example::

    edit = spec_edits_by_id()["rotate_cropped#1"]
    data, params = edit.draw(pixels_rgb, "held-back", "pkg/photo.jpg")   # JPEG bytes, {"angle": -3.2}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from hashwatch.evaluation.split import edit_rng

__all__ = [
    "SPEC_FAMILIES",
    "SPEC_QUICK_IDS",
    "SPEC_SUITE",
    "SpecEdit",
    "select_spec_edits",
    "spec_edits_by_id",
]

Array = np.ndarray
Params = dict[str, object]
# fn(rgb array, rng) -> (rgb array, parameters drawn); parameters may say "quality" or "format".
EditFn = Callable[[Array, np.random.Generator], tuple[Array, Params]]


@dataclass(frozen=True)
class SpecEdit:
    """One edit of the spec suite; ``k`` numbers the independent draws of one edit kind."""

    family: str
    name: str
    k: int
    fn: EditFn | None  # None: the unedited original

    @property
    def seeded(self) -> bool:
        """The runner passes the half and the picture (hash_known_set): every edit but the original."""
        return self.fn is not None

    @property
    def id(self) -> str:
        return self.name if self.fn is None else f"{self.name}#{self.k}"

    @property
    def label(self) -> str:
        return self.id

    def draw(self, rgb: Array, half: str, picture: str) -> tuple[bytes, Params]:
        """The edited copy of ``rgb`` (h x w x 3 uint8) for this half and picture, encoded, and its draws."""
        out, params = self.fn(np.ascontiguousarray(rgb), edit_rng(half, picture, self.id))
        return _encode(out, str(params.get("format", "JPEG")), int(params.get("quality", 90))), params

    def apply(self, image, original: bytes) -> bytes:
        """The unedited original (its own bytes); a drawn edit needs :meth:`apply_seeded`."""
        if self.fn is not None:
            raise ValueError(f"edit {self.id} draws its parameters per half and picture: use apply_seeded")
        return original

    def apply_seeded(self, image, original: bytes, half: str, picture: str) -> bytes:
        """:meth:`draw` for the runner: a Pillow RGB image in, the original's own bytes for the identity."""
        if self.fn is None:
            return original
        return self.draw(np.asarray(image.convert("RGB")), half, picture)[0]


def _encode(rgb: Array, fmt: str, quality: int) -> bytes:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if fmt == "PNG":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise ValueError(f"OpenCV could not encode a {rgb.shape} copy as {fmt}")
    return buf.tobytes()


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    kind = rng.choice(["black", "white", "grey", "colour"])
    if kind == "black":
        return (0, 0, 0)
    if kind == "white":
        return (255, 255, 255)
    if kind == "grey":
        g = int(rng.integers(60, 200))
        return (g, g, g)
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _resize(rgb: Array, w: int, h: int) -> Array:
    w, h = max(1, int(w)), max(1, int(h))
    shrink = w * h < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _text(canvas: Array, words: str, x0: int, y0: int, x1: int, y1: int, colour) -> None:
    """``words`` drawn (Hershey simplex) to fit the box ``(x0, y0)-(x1, y1)``, vertically centred."""
    height, width = max(4, y1 - y0), max(8, x1 - x0)
    (tw, th), base = cv2.getTextSize(words, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    scale = max(0.2, min(0.6 * height / max(th + base, 1), 0.95 * width / max(tw, 1)))
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(words, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    # Baseline placed so the text, descenders and stroke included, sits inside the box.
    org = (x0 + max(0, (width - tw) // 2), y0 + (height + th - base) // 2)
    cv2.putText(canvas, words, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


_WORDS = ("when the caption says it all", "SHARE IF YOU AGREE", "posted 3 hours ago", "look at this one")


# ---------------------------------------------------------------- geometry


def rotate_cropped(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    angle = float(rng.uniform(0.5, 6.0) * rng.choice([-1, 1]))
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    turned = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    # The largest centred w:h rectangle inside the turned picture: a corner (s*w/2, s*h/2) of it, turned
    # back, must stay inside the original; for small angles s = 1 / (cos a + sin a * max(w/h, h/w)).
    a = np.radians(abs(angle))
    s = 1.0 / (np.cos(a) + np.sin(a) * max(w / h, h / w))
    cw, ch = int(np.floor(w * s)) - 2, int(np.floor(h * s)) - 2
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return _resize(turned[y0 : y0 + ch, x0 : x0 + cw], w, h), {"angle": angle, "scale": float(s)}


def rotate_expanded(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    angle = float(rng.uniform(0.5, 6.0) * rng.choice([-1, 1]))
    fill = _colour(rng) if rng.random() < 0.3 else (0, 0, 0)
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_CUBIC, borderValue=fill)
    return out, {"angle": angle, "fill": fill}


def crop_rescale(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    cut = float(rng.uniform(3, 20))
    left = float(rng.uniform(0, 1))
    top = float(rng.uniform(0, 1))
    dx, dy = round(w * cut / 100), round(h * cut / 100)
    x0, y0 = round(dx * left), round(dy * top)
    part = rgb[y0 : h - (dy - y0), x0 : w - (dx - x0)]
    return _resize(part, w, h), {"cut": cut, "left_share": left, "top_share": top}


def mirrored_crop(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    cut = float(rng.uniform(5, 20))
    left, top = float(rng.uniform(0, 1)), float(rng.uniform(0, 1))
    dx, dy = round(w * cut / 100), round(h * cut / 100)
    x0, y0 = round(dx * left), round(dy * top)
    flipped = cv2.flip(rgb, 1)
    return flipped[y0 : h - (dy - y0), x0 : w - (dx - x0)].copy(), {"cut": cut}


def border(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    width = float(rng.uniform(2, 15))
    colour = _colour(rng)
    dx, dy = max(1, round(w * width / 200)), max(1, round(h * width / 200))
    out = cv2.copyMakeBorder(rgb, dy, dy, dx, dx, cv2.BORDER_CONSTANT, value=colour)
    return out, {"width": width, "colour": colour}


def letterbox(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    ratios = [16 / 9, 4 / 3, 1.0, 9 / 16]
    target = float(ratios[int(rng.integers(len(ratios)))])
    if abs(w / h - target) < 0.05:  # already that shape: the next one
        target = ratios[(ratios.index(target) + 1) % len(ratios)]
    colour = (0, 0, 0) if rng.random() < 0.6 else _colour(rng)
    if w / h < target:  # bars left and right
        extra = round(h * target) - w
        out = cv2.copyMakeBorder(rgb, 0, 0, extra // 2, extra - extra // 2, cv2.BORDER_CONSTANT, value=colour)
    else:
        extra = round(w / target) - h
        out = cv2.copyMakeBorder(rgb, extra // 2, extra - extra // 2, 0, 0, cv2.BORDER_CONSTANT, value=colour)
    return out, {"ratio": target, "colour": colour}


def aspect(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    factor = float(rng.uniform(0.7, 0.9) if rng.random() < 0.5 else rng.uniform(1.1, 1.4))
    if rng.random() < 0.5:
        return _resize(rgb, w * factor, h), {"axis": "width", "factor": factor}
    return _resize(rgb, w, h * factor), {"axis": "height", "factor": factor}


def rotate90(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    turns = int(rng.integers(1, 4))
    codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}
    return cv2.rotate(rgb, codes[turns]), {"degrees": 90 * turns}


def flip_lr(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return cv2.flip(rgb, 1), {}


def flip_tb(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return cv2.flip(rgb, 0), {}


# ---------------------------------------------------------------- painted over, pasted into


def band(rgb: Array, rng: np.random.Generator, *, translucent: bool) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    share = float(rng.uniform(5, 25))
    bh = max(4, round(h * share / 100))
    where = str(rng.choice(["top", "bottom", "across"]))
    y0 = 0 if where == "top" else h - bh if where == "bottom" else int(rng.integers(0, max(1, h - bh)))
    box = 1.0 if rng.random() < 0.5 else float(rng.uniform(0.6, 1.0))
    bw = round(w * box)
    x0 = (w - bw) // 2
    colour = _colour(rng)
    out = rgb.copy()
    region = out[y0 : y0 + bh, x0 : x0 + bw]
    alpha = float(rng.uniform(0.35, 0.75)) if translucent else 1.0
    fill = np.empty_like(region)
    fill[:] = colour
    region[:] = cv2.addWeighted(fill, alpha, region, 1 - alpha, 0)
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    _text(out, _WORDS[int(rng.integers(len(_WORDS)))], x0 + bw // 20, y0, x0 + bw - bw // 20, y0 + bh, ink)
    return out, {"share": share, "where": where, "alpha": alpha, "box_width": box}


def band_opaque(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return band(rgb, rng, translucent=False)


def band_translucent(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return band(rgb, rng, translucent=True)


def _filler(rng: np.random.Generator, w: int, h: int) -> Array:
    """A synthetic picture for a collage's other cells: shapes on a gradient (never a corpus picture)."""
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    out = np.repeat((a * (1 - t) + b * t).astype(np.uint8), h, axis=0)
    for _ in range(int(rng.integers(4, 10))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(max(2, min(w, h) // 12), max(3, min(w, h) // 3)))
        if rng.random() < 0.5:
            cv2.circle(out, (x, y), r, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(out, (x - r, y - r // 2), (x + r, y + r // 2), colour, -1)
    return out


def screenshot(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    share = float(rng.uniform(0.45, 0.75))
    cw = max(64, round(w / share))
    pw, ph = round(cw * share), round(cw * share * h / w)
    bar = max(16, round(cw * 0.035))
    side = round(cw * float(rng.uniform(0.15, 0.25)))
    foot = max(24, round(ph * 0.25))
    ch = bar + ph + foot + 2 * max(8, bar // 2)
    background = tuple(int(c) for c in rng.integers(215, 256, 3))
    canvas = np.empty((ch, cw, 3), np.uint8)
    canvas[:] = background
    cv2.rectangle(canvas, (0, 0), (cw - 1, bar), (52, 58, 70), -1)
    for i, colour in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        cv2.circle(canvas, (bar // 2 + i * bar, bar // 2), max(3, bar // 4), colour, -1, cv2.LINE_AA)
    _text(canvas, "Photos - Viewer", cw // 3, 0, 2 * cw // 3, bar, (230, 230, 230))
    cv2.rectangle(canvas, (0, bar), (side, ch - 1), (236, 238, 242), -1)
    line = max(10, bar * 3 // 4)
    for i, y in enumerate(range(bar + line, ch - line, line * 2)):
        _text(canvas, f"Album {i + 1}", line // 2, y, side - line // 2, y + line, (60, 60, 60))
    x0 = side + (cw - side - pw) // 2 if cw - side >= pw else max(0, cw - pw)
    y0 = bar + max(8, bar // 2)
    canvas[y0 : y0 + ph, x0 : x0 + pw] = _resize(rgb, pw, ph)[: ch - y0, : cw - x0]
    words = _WORDS[int(rng.integers(len(_WORDS)))]
    _text(canvas, words, x0, y0 + ph + 4, x0 + pw, y0 + ph + foot, (30, 30, 30))
    return canvas, {"share": share, "format": "PNG"}


def collage(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    h, w = rgb.shape[:2]
    grid = [(1, 2), (2, 1), (2, 2)][int(rng.integers(3))]
    rows, cols = grid
    gap = max(2, round(max(w, h) * float(rng.uniform(0.01, 0.04))))
    cell_w, cell_h = w, h  # each cell the picture's size: the collage is cols*w x rows*h plus gaps
    canvas = np.empty((rows * cell_h + (rows + 1) * gap, cols * cell_w + (cols + 1) * gap, 3), np.uint8)
    canvas[:] = _colour(rng)
    mine = int(rng.integers(rows * cols))
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        y, x = gap + r * (cell_h + gap), gap + c * (cell_w + gap)
        canvas[y : y + cell_h, x : x + cell_w] = rgb if i == mine else _filler(rng, cell_w, cell_h)
    scale = min(1.0, 1600 / max(canvas.shape[:2]))  # a collage is posted web-sized
    if scale < 1:
        canvas = _resize(canvas, canvas.shape[1] * scale, canvas.shape[0] * scale)
    return canvas, {"grid": f"{rows}x{cols}", "cell": mine, "gap": gap}


# ---------------------------------------------------------------- the kept edits, with drawn strengths


def resize_down(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    s = float(rng.uniform(0.3, 0.7))
    return _resize(rgb, rgb.shape[1] * s, rgb.shape[0] * s), {"scale": s}


def resize_up(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    s = float(rng.uniform(1.3, 2.0))
    return _resize(rgb, rgb.shape[1] * s, rgb.shape[0] * s), {"scale": s}


def jpeg(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return rgb, {"quality": int(rng.integers(30, 86))}


def jpeg_low(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return rgb, {"quality": int(rng.integers(5, 16))}


def grayscale(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB), {}


def brightness(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    f = float(rng.uniform(0.7, 1.3))
    return cv2.convertScaleAbs(rgb, alpha=f, beta=0), {"factor": f}


def contrast(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    f = float(rng.uniform(0.7, 1.4))
    mean = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean())
    return cv2.convertScaleAbs(rgb, alpha=f, beta=mean * (1 - f)), {"factor": f}


def gamma(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    g = float(rng.uniform(0.7, 1.45))
    lut = np.clip(255 * (np.arange(256) / 255) ** g + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, lut), {"gamma": g}


def blur(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    sigma = float(rng.uniform(0.8, 2.5))
    return cv2.GaussianBlur(rgb, (0, 0), sigma), {"sigma": sigma}


def sharpen(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    amount = float(rng.uniform(0.5, 2.0))
    soft = cv2.GaussianBlur(rgb, (0, 0), 2.0)
    return cv2.addWeighted(rgb, 1 + amount, soft, -amount, 0), {"amount": amount}


def noise(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    sigma = float(rng.uniform(4, 15))
    grain = np.zeros(rgb.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(2**31)))  # OpenCV's generator, seeded from the draw: reproducible
    cv2.randn(grain, 0, sigma)
    return cv2.add(rgb.astype(np.float32), grain).clip(0, 255).astype(np.uint8), {"sigma": sigma}


# Combined: the first of a pair, then the second; each draws from its own range.
_COMBINABLE: dict[str, EditFn] = {
    "rotate_cropped": rotate_cropped,
    "band": band_opaque,
    "crop_rescale": crop_rescale,
    "border": border,
    "aspect": aspect,
    "jpeg_low": jpeg_low,
    "resize": resize_down,
}


def combined(rgb: Array, rng: np.random.Generator) -> tuple[Array, Params]:
    names = list(_COMBINABLE)
    first, second = (names[int(i)] for i in rng.choice(len(names), 2, replace=False))
    out, p1 = _COMBINABLE[first](rgb, rng)
    out, p2 = _COMBINABLE[second](out, rng)
    params: Params = {"edits": f"{first}+{second}", **{f"1.{k}": v for k, v in p1.items()}}
    params.update({f"2.{k}": v for k, v in p2.items()})
    if "quality" in p1 or "quality" in p2:
        params["quality"] = p1.get("quality", p2.get("quality"))
    return out, params


# ---------------------------------------------------------------- the suite


def _kind(family: str, fn: EditFn, draws: int, name: str | None = None) -> list[SpecEdit]:
    return [SpecEdit(family, name or fn.__name__, k, fn) for k in range(1, draws + 1)]


def _suite() -> tuple[SpecEdit, ...]:
    edits = [SpecEdit("original", "original", 0, None)]
    edits += _kind("resize", resize_down, 1) + _kind("resize", resize_up, 1)
    edits += _kind("re-encode", jpeg, 1)
    edits += _kind("colour", grayscale, 1) + _kind("colour", brightness, 1)
    edits += _kind("colour", contrast, 1) + _kind("colour", gamma, 1)
    edits += _kind("blur/sharpen", blur, 1) + _kind("blur/sharpen", sharpen, 1)
    edits += _kind("noise", noise, 1)
    edits += _kind("flip", flip_lr, 1) + _kind("flip", flip_tb, 1)
    edits += _kind("rotate 90", rotate90, 1)
    edits += _kind("rotate cropped", rotate_cropped, 3)
    edits += _kind("rotate expanded", rotate_expanded, 2)
    edits += _kind("band", band_opaque, 2) + _kind("band", band_translucent, 2)
    edits += _kind("crop+rescale", crop_rescale, 3)
    edits += _kind("border", border, 2) + _kind("border", letterbox, 2)
    edits += _kind("aspect", aspect, 2)
    edits += _kind("screenshot", screenshot, 2)
    edits += _kind("collage", collage, 2)
    edits += _kind("jpeg low", jpeg_low, 1)
    edits += _kind("mirrored crop", mirrored_crop, 2)
    edits += _kind("combined", combined, 3)
    return tuple(edits)


SPEC_SUITE: tuple[SpecEdit, ...] = _suite()
SPEC_FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(e.family for e in SPEC_SUITE))
# The families the first suite had too (the reference hashes are made for most of them).
KEPT_FAMILIES: tuple[str, ...] = (
    "resize",
    "re-encode",
    "colour",
    "blur/sharpen",
    "noise",
    "flip",
    "rotate 90",
)
# The test suite's subset: one draw of a few families (tests/evaluation/test_quick_eval_spec.py).
SPEC_QUICK_IDS: tuple[str, ...] = (
    "original",
    "resize_down#1",
    "flip_lr#1",
    "rotate_cropped#1",
    "band_opaque#1",
    "crop_rescale#1",
    "screenshot#1",
)


def spec_edits_by_id() -> dict[str, SpecEdit]:
    return {e.id: e for e in SPEC_SUITE}


def select_spec_edits(
    ids: Sequence[str] | None = None, families: Sequence[str] | None = None
) -> tuple[SpecEdit, ...]:
    """The suite's edits with these ids and/or in these families (None: no filter), in suite order."""
    by_id = spec_edits_by_id()
    unknown = [i for i in ids or () if i not in by_id]
    if unknown:
        raise ValueError(f"unknown edits: {', '.join(unknown)} (known: {', '.join(by_id)})")
    unknown_f = [f for f in families or () if f not in SPEC_FAMILIES]
    if unknown_f:
        raise ValueError(f"unknown edit families: {', '.join(unknown_f)} (known: {', '.join(SPEC_FAMILIES)})")
    return tuple(
        e for e in SPEC_SUITE if (ids is None or e.id in ids) and (families is None or e.family in families)
    )
