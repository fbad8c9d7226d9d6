"""pytx's vPDQ serialisation, to and from lists of :class:`~hashwatch.video.frames.VpdqFrame`.

python-threatexchange (``threatexchange/extensions/vpdq/vpdq_util.py``) writes a video's vPDQ as a JSON list
with one string per sampled frame, ``"<pdq hex>,<quality>,<timestamp>"`` (its ``VpdqCompactFeature``)::

    ["e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c,100,0.0", "c0f1...055c,98,1.0"]

    text = vpdq_to_json(frames)          # what a vpdq list row holds (hashwatch writes 3 decimals)
    frames = json_to_vpdq(text)          # frame_index = position in the list (pytx keeps no frame number)
    frame = parse_feature("e271...055c,100,0.0", frame_index=7)   # one frame (a per-frame list row)

Timestamps: pytx formats them with ``:.3`` (3 *significant* digits: 1234.5 s becomes ``1.23e+03``);
hashwatch writes ``:.3f`` (3 decimals, :data:`VPDQ_TIMESTAMP_PRECISION`), which pytx reads back unchanged,
and reads any float pytx writes. Bad values raise :class:`ValueError` with one line saying which frame and
what is wrong (never the whole value: a list row may be long).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

from hashwatch.video.frames import VpdqFrame

__all__ = [
    "VPDQ_TIMESTAMP_PRECISION",
    "format_feature",
    "json_to_vpdq",
    "parse_feature",
    "vpdq_to_json",
]

VPDQ_TIMESTAMP_PRECISION = 3  # pytx's: timestamps are kept to milliseconds
_PDQ_HEX = re.compile(r"[0-9a-f]{64}")
# The common case of a whole list at once (one regex pass instead of a parse per frame: 4x faster on 600 k
# frames); anything it does not take is parsed frame by frame, which names the bad one.
_FRAME_LINE = re.compile(
    r"^[ \t]*([0-9a-fA-F]{64})[ \t]*,[ \t]*(\d{1,3})[ \t]*,[ \t]*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)[ \t]*$",
    re.M,
)
_SHOWN = 40  # characters of a bad value quoted in an error (hashes and numbers only, never content)


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def parse_feature(text: str, frame_index: int = 0) -> VpdqFrame:
    """One frame, ``"<pdq hex>,<quality>,<timestamp>"`` (pytx's ``VpdqCompactFeature.from_str``), as a
    :class:`VpdqFrame`; ValueError naming what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"a vpdq frame is a string, not {type(text).__name__}")
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(
            f"a vpdq frame is 'pdq_hex,quality,timestamp', got {len(parts)} field(s) in {_quote(text)}"
        )
    pdq, quality_text, time_text = (p.strip() for p in parts)
    pdq = pdq.lower()
    if not _PDQ_HEX.fullmatch(pdq):
        raise ValueError(f"a vpdq frame's pdq needs 64 hex digits, got {_quote(pdq)}")
    try:
        quality = int(quality_text)
    except ValueError:
        raise ValueError(f"a vpdq frame's quality is not an integer: {_quote(quality_text)}") from None
    if not 0 <= quality <= 100:
        raise ValueError(f"a vpdq frame's quality must be 0-100, got {quality}")
    try:
        timestamp = float(time_text)
    except ValueError:
        raise ValueError(f"a vpdq frame's timestamp is not a number: {_quote(time_text)}") from None
    if not math.isfinite(timestamp) or timestamp < 0:
        raise ValueError(f"a vpdq frame's timestamp must be a finite number >= 0, got {_quote(time_text)}")
    return VpdqFrame(frame_index, timestamp, pdq, quality)


def format_feature(frame: VpdqFrame) -> str:
    """One frame as pytx's compact string (timestamp to :data:`VPDQ_TIMESTAMP_PRECISION` decimals)."""
    return f"{frame.pdq},{frame.quality},{frame.timestamp:.{VPDQ_TIMESTAMP_PRECISION}f}"


def vpdq_to_json(frames: Iterable[VpdqFrame]) -> str:
    """A video's frames as pytx's JSON list (``json.dumps`` of one compact string per frame)."""
    out = []
    for frame in frames:
        parse_feature(format_feature(frame))  # the same checks as reading: never write what cannot be read
        out.append(format_feature(frame))
    return json.dumps(out)


def json_to_vpdq(text: str) -> list[VpdqFrame]:
    """pytx's JSON list back to frames (``frame_index`` = position in the list); ``""`` is no frame (as
    pytx). ValueError saying which frame is bad."""
    if not isinstance(text, str):
        raise ValueError(f"a vpdq value is a string, not {type(text).__name__}")
    if not text.strip():
        return []
    try:
        items = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(
            f"a vpdq value is not JSON ({exc.msg if hasattr(exc, 'msg') else 'too deep'})"
        ) from None
    if not isinstance(items, list):
        raise ValueError(f"a vpdq value is a JSON list of frame strings, not a {type(items).__name__}")
    if all(isinstance(item, str) and "\n" not in item for item in items):
        found = _FRAME_LINE.findall("\n".join(items))
        if len(found) == len(items):
            frames = [VpdqFrame(k, float(t), h.lower(), int(q)) for k, (h, q, t) in enumerate(found)]
            if all(f.quality <= 100 and math.isfinite(f.timestamp) for f in frames):
                return frames
    frames = []
    for k, item in enumerate(items):
        try:
            frames.append(parse_feature(item, k))
        except ValueError as exc:
            raise ValueError(f"vpdq frame {k + 1} of {len(items)}: {exc}") from None
    return frames
