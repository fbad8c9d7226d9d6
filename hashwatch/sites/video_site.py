"""A generated site of synthetic videos and an animation, with what a crawl must find on it.

Every way a page shows a video (``<video src>``, ``<source>`` inside ``<video>``, ``<a href>`` to a video file,
``og:video``), every way a list knows one (``video_md5``, ``vpdq`` of the same video or of an edited copy:
re-encoded at another size, codec and bitrate) and the failures a crawl must survive (a video over the byte
cap, a truncated one, a "video" that is an image, one that is text, a video served as ``image/jpeg`` behind
an ``<img>``), plus an animated GIF whose second frame's PDQ is listed. All content is synthetic
(:func:`hashwatch.sites.synthetic_videos.make_video`, Pillow), written under the folder the caller gives::

    site = build_video_site(tmp_path / "site")
    with StaticServer(site.root) as server:
        seeds = [server.base_url + "index.html"]
        write_video_hash_list(site, tmp_path / "list.csv")
        # crawl with --max-video-bytes site.video_cap; site.expected[url] says what each URL must become
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

__all__ = ["ServedVideoSite", "VideoSite", "build_video_site", "served_video_site", "write_video_hash_list"]

LIST_SOURCE = "video-test-list"
LIST_VERSION = "video-2026-12-07.1"


@dataclass
class VideoSite:
    """The site's folder, its pages and what each URL path must end as (``expected``: path -> outcome)."""

    root: Path
    pages: list[str]  # paths of the pages, the first is the seed
    expected: dict[str, str] = field(
        default_factory=dict
    )  # path -> "video_md5" | "vpdq" | "none" | error kind
    list_rows: list[list[str]] = field(default_factory=list)  # hash_type, value, category, item_id, note
    video_cap: int = 0  # a --max-video-bytes that every video but v/big.mp4 fits under
    animation_path: str = "img/anim.gif"


def _page(title: str, body: str, head: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{head}</head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _two_frame_gif() -> tuple[bytes, bytes]:
    """A 2-frame animated GIF (a synthetic photo, then another one) and its second frame as PNG bytes."""
    from PIL import Image

    from hashwatch.sites.synthetic_images import synthetic_photo

    first = synthetic_photo(301, (160, 120)).convert("RGB")
    second = synthetic_photo(302, (160, 120)).convert("RGB")
    frames = [first.quantize(colors=255), second.quantize(colors=255)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=500, loop=0)
    # The listed frame as the GIF decoder shows it (palette applied), so its PDQ is the frame's.
    with Image.open(io.BytesIO(gif.getvalue())) as decoded:
        decoded.seek(1)
        png = io.BytesIO()
        decoded.convert("RGB").save(png, format="PNG")
    return gif.getvalue(), png.getvalue()


def build_video_site(root: str | Path, *, seconds: float = 2.0) -> VideoSite:
    """Write the site under ``root`` (index.html and page2.html) and return what a crawl must find.

    Videos are ``seconds`` long at 10 fps and 160 x 120 (decoding each takes a few hundredths of a second);
    ``v/big.mp4`` is larger than :attr:`VideoSite.video_cap`."""
    from hashwatch.hashing.image_hashes import compute_image_hashes
    from hashwatch.sites.synthetic_images import encode, synthetic_photo
    from hashwatch.sites.synthetic_videos import make_video
    from hashwatch.video.hash_video import hash_video
    from hashwatch.video.video_hashes import VideoHashes
    from hashwatch.video.vpdq_format import vpdq_to_json

    root = Path(root)
    (root / "v").mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    site = VideoSite(root=root, pages=["index.html", "page2.html"])
    small = {"seconds": seconds, "fps": 10, "width": 160, "height": 120}

    def put(path: str, data: bytes, expected: str) -> bytes:
        (root / path).write_bytes(data)
        site.expected[path] = expected
        return data

    def list_md5(data: bytes, item: str, category: str = "A") -> None:
        import hashlib

        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        site.list_rows.append(["video_md5", md5, category, item, "listed by md5"])

    def list_vpdq(data: bytes, item: str, category: str = "B") -> None:
        hashes: VideoHashes = hash_video(data)
        site.list_rows.append(["vpdq", vpdq_to_json(hashes.vpdq), category, item, "listed by vpdq"])

    # Listed by MD5, shown by <video src> with a poster image.
    list_md5(put("v/md5_listed.mp4", make_video(seed=11, **small), "video_md5"), "video-11")
    (root / "img/poster.png").write_bytes(encode(synthetic_photo(310, (160, 120)), "PNG"))
    # Listed by vPDQ (the 320 x 240 H.264 original is not on the site); the site shows edited copies:
    # re-encoded as VP9 in WebM at 160 x 120 (<source> in <video>), and as MPEG-4 Part 2 in MP4 (<a href>).
    list_vpdq(make_video(seed=12, seconds=seconds, fps=10, width=320, height=240), "video-12")
    put("v/edited.webm", make_video(seed=12, codec="vp9", container="webm", **small), "vpdq")
    put("v/linked.mp4", make_video(seed=12, codec="mpeg4", container="mp4", **small), "vpdq")
    # Listed by vPDQ, the same file: shown through og:video, in Matroska.
    same = put("v/og.mkv", make_video(seed=13, container="mkv", **small), "vpdq")
    list_vpdq(same, "video-13")
    # A video behind <img>, served as image/jpeg (the server goes by the extension): sniffed, hashed as a video.
    list_md5(put("img/clip.jpg", make_video(seed=15, **small), "video_md5"), "video-15", "C")
    # Unlisted: must not match.
    put("v/distractor.mp4", make_video(seed=16, pattern="cuts", **small), "none")
    # Failures: over the byte cap, truncated, an image at a video URL (hashed as an image), text.
    big = make_video(seed=17, seconds=seconds, fps=10, width=640, height=480, pattern="cuts")
    put("v/big.mp4", big, "video_too_large")
    # Cut in half: Matroska declares its length (the decoder sees the stream end early); an MP4 whose index
    # (moov, written last) is cut off does not open at all.
    whole = make_video(seed=18, container="mkv", **small)
    put("v/truncated.mkv", whole[: len(whole) // 2], "video_truncated")
    whole = make_video(seed=19, **small)
    put("v/cut.mp4", whole[: len(whole) // 2], "video_undecodable")
    put("v/poster_as_video.mp4", encode(synthetic_photo(311, (160, 120)), "PNG"), "image")
    put("v/notes.mp4", b"these are notes, not a video\n" * 20, "not_a_video")
    site.video_cap = max(
        len(big) - 1, *(len((root / p).read_bytes()) for p in site.expected if p != "v/big.mp4")
    )
    # An animated GIF whose second frame's PDQ is listed.
    gif, frame = _two_frame_gif()
    put(site.animation_path, gif, "pdq")
    site.list_rows.append(["pdq", compute_image_hashes(frame).pdq, "A", "anim-302", "second frame of a GIF"])

    index = _page(
        "Videos",
        "<video src='v/md5_listed.mp4' poster='img/poster.png' controls></video>"
        "<video controls><source src='v/edited.webm' type='video/webm'>"
        "<source src='v/distractor.mp4' type='video/mp4'></video>"
        "<p><a href='v/linked.mp4'>a clip</a> <a href='page2.html'>more</a></p>"
        "<img src='img/clip.jpg' alt='a still'> <img src='img/anim.gif' alt='animated'>",
        head="<meta property='og:video' content='v/og.mkv'>",
    )
    page2 = _page(
        "More videos",
        "<video src='v/big.mp4'></video><video src='v/truncated.mkv'></video><video src='v/cut.mp4'></video>"
        "<video src='v/poster_as_video.mp4'></video><a href='v/notes.mp4'>notes</a>"
        "<video src='v/md5_listed.mp4'></video>",
    )
    (root / "index.html").write_text(index)
    (root / "page2.html").write_text(page2)
    return site


def write_video_hash_list(site: VideoSite, path: str | Path) -> Path:
    """The site's known-hash list (CSV): its video_md5, vpdq and pdq rows."""
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id", "note"]
        )
        for hash_type, value, category, item, note in site.list_rows:
            writer.writerow([hash_type, value, category, LIST_SOURCE, LIST_VERSION, "false", item, note])
    return path


class ServedVideoSite(NamedTuple):
    site: VideoSite
    base_url: str  # http://127.0.0.1:PORT/
    hash_list: Path
    seeds_file: Path  # the site's index page, one line


@contextmanager
def served_video_site(folder: str | Path) -> Iterator[ServedVideoSite]:
    """Build the site under ``folder``, write its list and seeds file, serve it on 127.0.0.1 while the block
    runs (tests and the Flink test share it)::

        with served_video_site(tmp_path) as served:
            run([f"--seeds={served.seeds_file}", f"--hash-list={served.hash_list}", ...])
    """
    from hashwatch.sites.server import StaticServer

    folder = Path(folder)
    site = build_video_site(folder / "site")
    hash_list = write_video_hash_list(site, folder / "list.csv")
    with StaticServer(site.root) as server:
        seeds = folder / "seeds.txt"
        seeds.write_text(server.base_url + site.pages[0] + "\n")
        yield ServedVideoSite(site, server.base_url, hash_list, seeds)
