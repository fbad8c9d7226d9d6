"""A generated web site of synthetic images, with known originals, edited copies and distractors.

The site spreads over several hosts (one folder each, served on different loopback addresses or ports) and
uses every way a page can show an image: ``img src``, ``srcset``, ``picture/source``, CSS ``url()``,
``og:image``, an inline ``data:`` URI and a plain link. It also holds the failures a crawl must survive: a
missing image, a truncated JPEG, an "image" that is HTML, a robots-disallowed folder and an off-site link.

:func:`build_site` writes the files and returns a :class:`Site` describing every image and what a correct
matcher should report for it; :func:`write_hash_list` writes a known-hash list (CSV) of the originals.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
from dataclasses import dataclass, field
from pathlib import Path

from hashwatch.sites.synthetic_images import EDITS, encode, synthetic_photo

__all__ = ["Site", "SiteImage", "build_site", "write_hash_list"]

LIST_VERSION = "demo-2026-11-25.1"
CATEGORIES = ("A", "B", "C")


@dataclass(frozen=True)
class SiteImage:
    url: str  # absolute URL, or the data: id for the inline image
    role: str  # original | edited | distractor | broken
    photo_seed: int  # which synthetic photo it shows (-1 for broken files)
    edit: str | None  # key of EDITS for edited copies
    pages: tuple[str, ...]  # absolute URLs of the pages that show it


@dataclass
class Site:
    hosts: list[str]  # base URLs, e.g. http://127.0.0.1:40123/
    roots: list[Path]
    seeds: list[str]
    images: list[SiteImage] = field(default_factory=list)
    known_seeds: list[int] = field(default_factory=list)  # photo seeds whose originals are in the list
    listed: dict[str, bytes] = field(
        default_factory=dict
    )  # files whose hashes go into the list: name -> bytes
    listed_videos: dict[str, bytes] = field(default_factory=dict)  # videos listed by video_md5: name -> bytes
    videos: list[str] = field(default_factory=list)  # video URLs on the site

    def image(self, url: str) -> SiteImage:
        return next(image for image in self.images if image.url == url)


def _page(title: str, body: str, head: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{head}</head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def build_site(
    out_dir: str | Path,
    hosts: list[str],
    *,
    known: int = 4,
    distractors: int = 4,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    videos: bool = False,
) -> Site:
    """Write the demo site under ``out_dir/host0``, ``out_dir/host1``... for the given base URLs (2 hosts).

    ``known`` originals go into the hash list and appear on the site as themselves and as edited copies;
    ``distractors`` are unrelated photos that must not match. ``videos``: the index page also shows a short
    synthetic video (1 s, 160 x 120, listed by ``video_md5``; decoding it takes a few hundredths of a second).
    """
    if len(hosts) < 2:
        raise ValueError("the demo site needs two hosts")
    out_dir = Path(out_dir)
    roots = [out_dir / f"host{i}" for i in range(len(hosts))]
    for root in roots:
        (root / "img").mkdir(parents=True, exist_ok=True)
        (root / "gallery").mkdir(exist_ok=True)
        (root / "private").mkdir(exist_ok=True)
    a, b = hosts[0], hosts[1]
    site = Site(hosts=hosts, roots=roots, seeds=[a + "index.html", b + "mirror.html"])
    pages: dict[str, list[str]] = {}

    def put(root: Path, host: str, name: str, content: bytes) -> str:
        (root / name).write_bytes(content)
        return host + name

    def add(url: str, role: str, photo_seed: int, edit: str | None, page: str) -> None:
        pages.setdefault(url, []).append(page)
        site.images = [i for i in site.images if i.url != url]
        site.images.append(SiteImage(url, role, photo_seed, edit, tuple(sorted(set(pages[url])))))

    photo_seeds = [seed * 1000 + i for i in range(known + distractors)]
    photos = {s: synthetic_photo(s, size) for s in photo_seeds}
    known_seeds, distractor_seeds = photo_seeds[:known], photo_seeds[known:]
    site.known_seeds = known_seeds

    # Gallery 1: the originals as plain <img>, and edited copies through every kind of reference.
    g1 = a + "gallery/1.html"
    body = []
    edit_names = list(EDITS)
    for i, s in enumerate(known_seeds):
        original = encode(photos[s], "JPEG", quality=92)
        site.listed[f"photo {s}"] = (s, original)
        url = put(roots[0], a, f"img/original-{s}.jpg", original)
        add(url, "original", s, None, g1)
        body.append(f"<img src='../img/original-{s}.jpg' alt='photo {s}'>")
        # Enough edits per known photo that every edit appears, each shown in a different way.
        per_photo = -(-len(edit_names) // len(known_seeds))
        for j in range(per_photo):
            name = edit_names[(per_photo * i + j) % len(edit_names)]
            edit, fmt, params = EDITS[name]
            ext = "png" if fmt == "PNG" else "jpg"
            url = put(roots[0], a, f"img/{name}-{s}.{ext}", encode(edit(photos[s]), fmt, **params))
            add(url, "edited", s, name, g1)
            style = (i * per_photo + j) % 4
            rel = f"../img/{name}-{s}.{ext}"
            if style == 0:
                body.append(f"<img srcset='../img/nothing-small.jpg 320w, {rel} 640w' alt=''>")
                add(a + "img/nothing-small.jpg", "broken", -1, None, g1)
            elif style == 1:
                body.append(f"<picture><source srcset='{rel}' type='image/jpeg'><img src=''></picture>")
            elif style == 2:
                body.append(f"<div style=\"background-image: url('{rel}')\">&nbsp;</div>")
            else:
                body.append(f"<a href='{rel}'>full size</a>")
    og = f"<meta property='og:image' content='{a}img/original-{known_seeds[0]}.jpg'>"
    # An inline data: image of a known photo (small PNG): exact hashes still match.
    small = photos[known_seeds[-1]].resize((96, 72))
    png = encode(small, "PNG")
    site.listed[f"photo {known_seeds[-1]} (inline thumbnail)"] = (known_seeds[-1], png)
    inline_id = f"data:image/png;sha256={hashlib.sha256(png).hexdigest()}"
    add(inline_id, "original", known_seeds[-1], None, g1)
    body.append(f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}' alt='inline'>")
    (roots[0] / "gallery/1.html").write_text(_page("Gallery 1", "\n".join(body), og))

    # Gallery 2: distractors and the failures.
    g2 = a + "gallery/2.html"
    body = []
    for s in distractor_seeds:
        url = put(roots[0], a, f"img/distractor-{s}.jpg", encode(photos[s], "JPEG"))
        add(url, "distractor", s, None, g2)
        body.append(f"<img src='/img/distractor-{s}.jpg'>")
    truncated = encode(photos[distractor_seeds[0]], "JPEG")[:2000]
    add(put(roots[0], a, "img/truncated.jpg", truncated), "broken", -1, None, g2)
    body.append("<img src='/img/truncated.jpg'>")
    add(
        put(roots[0], a, "img/not-an-image.jpg", _page("oops", "this is html").encode()),
        "broken",
        -1,
        None,
        g2,
    )
    body.append("<img src='/img/not-an-image.jpg'>")
    add(a + "img/missing.jpg", "broken", -1, None, g2)
    body.append("<img src='/img/missing.jpg'>")
    body.append("<a href='/private/secret.html'>private</a> <a href='https://example.invalid/'>elsewhere</a>")
    (roots[0] / "gallery/2.html").write_text(_page("Gallery 2", "\n".join(body)))
    (roots[0] / "private/secret.html").write_text(_page("Private", "<img src='/img/hidden.jpg'>"))

    index_body = (
        "<a href='gallery/1.html'>gallery 1</a> <a href='gallery/2.html'>gallery 2</a> "
        f"<a href='{b}mirror.html'>mirror (another host)</a>"
    )
    if videos:
        from hashwatch.sites.synthetic_videos import make_video

        clip = make_video(seconds=1.0, fps=10, width=160, height=120, seed=seed + 7)
        (roots[0] / "video").mkdir(exist_ok=True)
        site.videos.append(put(roots[0], a, "video/clip.mp4", clip))
        site.listed_videos["video clip"] = clip
        index_body += "<video src='video/clip.mp4' controls></video>"
    (roots[0] / "index.html").write_text(_page("Demo site", index_body))
    (roots[0] / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")

    # Host B: the same bytes as an original under another URL, and more edits.
    mirror = b + "mirror.html"
    body = []
    s0 = known_seeds[0]
    add(put(roots[1], b, f"img/copy-{s0}.jpg", site.listed[f"photo {s0}"][1]), "original", s0, None, mirror)
    body.append(f"<img src='img/copy-{s0}.jpg'>")
    for s in known_seeds[1:]:
        name = "reencoded"
        edit, fmt, params = EDITS[name]
        add(
            put(roots[1], b, f"img/{name}-{s}.jpg", encode(edit(photos[s]), fmt, **params)),
            "edited",
            s,
            name,
            mirror,
        )
        body.append(f"<img src='img/{name}-{s}.jpg'>")
    (roots[1] / "mirror.html").write_text(_page("Mirror", "\n".join(body)))
    (roots[1] / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    return site


# What the demo's list carries, as a hotline's list typically does: two digests of the file and the three
# perceptual hashes (not sha1: the demo's matches would only repeat md5's).
LISTED_TYPES = ("md5", "sha256", "pdq", "phash", "dhash")


def write_hash_list(site: Site, path: str | Path) -> Path:
    """Write the demo's known-hash list (CSV) from the site's originals: md5, sha256, pdq, phash, dhash.

    Also writes a tombstone: a hash added and then deleted, which must never match.
    """
    from hashwatch.hashing.image_hashes import compute_image_hashes

    path = Path(path)
    rows = []
    for note, (photo_seed, content) in sorted(site.listed.items()):
        hashes = compute_image_hashes(content)
        category = CATEGORIES[photo_seed % len(CATEGORIES)]
        for hash_type in LISTED_TYPES:
            value = hashes.hash_value(hash_type)
            if value:
                # item_id links one picture's hashes, so a pHash match is corroborated by its dHash.
                item = f"photo-{photo_seed}"
                rows.append([hash_type, value, category, "demo-list", LIST_VERSION, "false", item, note])
    for note, content in sorted(site.listed_videos.items()):
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        rows.append(["video_md5", md5, "B", "demo-list", LIST_VERSION, "false", "", note])
    rows.append(["md5", "0" * 31 + "1", "A", "demo-list", LIST_VERSION, "false", "", "added"])
    rows.append(["md5", "0" * 31 + "1", "A", "demo-list", LIST_VERSION, "true", "", "withdrawn"])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id", "note"]
        )
        writer.writerows(rows)
    return path
