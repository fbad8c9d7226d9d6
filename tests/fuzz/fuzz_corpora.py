"""Seed inputs for the fuzz targets, built at run time from synthetic material (never committed).

``seeds(target, workdir)`` returns a list of byte strings for one target of :mod:`fuzz_targets`: the demo
site's HTML pages, Pillow-made images in every decoded format (plus hostile headers: huge declared sizes and
decompression bombs), list files written the way users write them, and real index files built by
``hashwatch index build``. Image seeds exist only in memory and in the directory the caller passes (pytest's
``tmp_path``), as the analyst-safety rule asks.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

__all__ = ["image_seeds", "list_rows", "seeds", "write_list"]

# ---------------------------------------------------------------- text targets

URL_SEEDS = (
    "HTTP://Example.COM:80/a/../b?y=2&x=1#top",
    "https://user:pw@EXAMPLE.com:443/%7Efoo/./bar;p?q=a+b&r=%2F#f",
    "http://[2001:DB8::1]:8080/path?x",
    "http://xn--bcher-kva.example/b%C3%BCcher",
    "http://bücher.example/straße?ä=ö",
    "//cdn.example.com/img.png\nhttp://site.test/dir/page.html",
    "../up/../x.jpg?b=1&a=2\nhttp://site.test/dir/sub/page.html?q=1",
    "  http://a.test/with space/\t\n",
    "javascript:alert(1)",
    "data:image/png;base64,AAAA",
    "http://a.test:99999/",
    "http://[::1/",
    "http://a.test./trailing-dot",
    "http://%41.test/",
    "http://a.test/%zz%2",
)

ROBOTS_SEEDS = (
    b"User-agent: hashwatch\nDisallow: /private/\nCrawl-delay: 2\n\nUser-agent: *\nDisallow: /\n",
    b"User-agent: *\nAllow: /public/*.html$\nDisallow: /*?session=\nSitemap: http://site.test/sitemap.xml\n",
    b"user-agent: *\r\ndisallow:\r\ncrawl-delay: 0.5\r\nrequest-rate: 1/5\r\n",
    b"\xef\xbb\xbfUser-agent: *\nDisallow: /%E2%82%AC/\nDisallow: /\xe2\x82\xac/\n# comment\n",
    b"<html><body>not robots</body></html>",
    b"User-agent: hashwatch\nCrawl-delay: 1e308\nHost: site.test\nClean-param: a /b\n",
)

_RICH_PAGE = """<!doctype html><html><head><base href="/base/">
<meta property="og:image" content="/og.jpg"><meta name="twitter:image" content="tw.png">
<meta name="robots" content="noindex, nofollow"><link rel="image_src" href="linked.png">
<style>.x{background:url('block.gif')} .y{background:url( "q.webp" )}</style></head><body>
<img src="a.png" srcset="b.png 1x, c.png 2x, /img,w_200/d.png 3x" data-src="lazy.webp" data-srcset="e.png 2x">
<picture><source srcset="p1.avif 1x, p2.avif 2x" type="image/avif"><img src="p3.jpg"></picture>
<video poster="poster.jpg"><source src="movie.mp4"></video><svg><image href="svg.png"/></svg>
<input type="image" src="button.png"><div style="background-image: url(&quot;css.png&quot;)"></div>
<a href="photo.JPEG">photo</a><a href="next.html#frag">next</a><a href="mailto:x@y">m</a>
<a href="ftp://files.test/x">ftp</a><area href="area.html"><iframe src="//other.test/frame"></iframe>
<img src="data:image/png;base64,{png}"><a href="data:image/gif,GIF89a">gif</a>
<img src="data:image/png;base64,@@@@"><img src="blob:http://x/1"><img src="http://[::1/">
</body></html>"""


def _tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def html_seeds(workdir: Path) -> list[bytes]:
    """The demo site's pages (small photos: the HTML is what matters) and one page using every reference."""
    from hashwatch.sites.demo_site import build_site

    root = workdir / "demo-site"
    build_site(
        root, ["http://127.0.0.1:8000/", "http://127.0.0.2:8000/"], known=2, distractors=1, size=(64, 48)
    )
    pages = [p.read_bytes() for p in sorted(root.rglob("*.html"))]
    rich = _RICH_PAGE.replace("{png}", base64.b64encode(_tiny_png()).decode())
    return [*pages, rich.encode(), rich.encode("utf-16"), b"<meta charset=latin-1><img src='\xe9.png'>"]


def data_uri_seeds() -> list[bytes]:
    png = _tiny_png()
    b64 = base64.b64encode(png).decode()
    uris = (
        f"data:image/png;base64,{b64}",
        f"data:IMAGE/PNG;charset=x;BASE64,{b64[:20]}\n {b64[20:]}",
        "data:image/svg+xml,%3Csvg%20xmlns%3D%22http://www.w3.org/2000/svg%22/%3E",
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "data:text/plain,hello",
        "data:image/png;base64,%41%41%3D%3D",
        "data:,",
    )
    return [bytes([cap]) + uri.encode() for cap in (0, 16, 255) for uri in uris]


# ---------------------------------------------------------------- list files

LIST_COLUMNS = ("hash_type", "hash_value", "category", "source", "list_version", "deleted", "item_id", "note")
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64, "phash": 16, "dhash": 16}


def list_rows(count: int = 12, seed: int = 0) -> list[dict[str, str]]:
    """Valid list rows of every matchable type, with labels, item ids, a tombstone and a note with a comma."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        hash_type = list(_HEX_LENGTHS)[i % len(_HEX_LENGTHS)]
        rows.append(
            {
                "hash_type": hash_type,
                "hash_value": f"{rng.getrandbits(4 * _HEX_LENGTHS[hash_type]):0{_HEX_LENGTHS[hash_type]}x}",
                "category": "ABC"[i % 3],
                "source": f"list-{i % 2}",
                "list_version": "2026-12-01",
                "deleted": "false",
                "item_id": f"item-{i // 3}",
                "note": "seen, twice" if i % 4 == 0 else "",
            }
        )
    rows.append({**rows[0], "deleted": "true", "source": ""})  # a source-less tombstone
    return rows


def write_list(path: Path, rows: list[dict[str, str]], fmt: str) -> Path:
    """Write ``rows`` as ``fmt`` (csv | tsv | parquet | pytx; a ``.gz`` path is gzipped)."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {c: [r.get(c, "") for r in rows] for c in LIST_COLUMNS}
        pq.write_table(pa.table(columns), path)
        return path
    buf = io.StringIO(newline="")
    if fmt == "pytx":
        buf.write("# pytx export\n\n")
        for r in rows:
            if r["deleted"] == "false":
                buf.write(f"{r['hash_type']} {r['hash_value']}\n")
    else:
        writer = csv.writer(buf, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(LIST_COLUMNS)
        writer.writerows([r.get(c, "") for c in LIST_COLUMNS] for r in rows)
    data = buf.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def list_seeds(workdir: Path) -> list[bytes]:
    """List-target inputs: a format byte (an index into ``fuzz_targets.LIST_FORMATS``) and a real file's
    bytes (for ``.gz`` names the target gzips the content itself, so the seed holds it uncompressed)."""
    from fuzz_targets import LIST_FORMATS

    rows = list_rows()
    by_format = {".csv": "csv", ".tsv": "tsv", ".txt": "pytx", ".parquet": "parquet", ".csv.gz": "csv"}
    by_format |= {".tsv.gz": "tsv", ".lst": "csv", ".txt.gz": "pytx"}
    out = []
    for code, suffix in enumerate(LIST_FORMATS):
        name = suffix if suffix == ".txt.gz" else suffix.removesuffix(".gz")
        path = write_list(workdir / f"seed{code}{name}", rows, by_format[suffix])
        out.append(bytes([code]) + path.read_bytes())
    return out


# ---------------------------------------------------------------- index files


def build_index_file(workdir: Path, rows: list[dict[str, str]] | None = None, name: str = "known") -> Path:
    """A real index, built by ``hashwatch index build`` (the CLI, in a subprocess) from a CSV list."""
    lst = write_list(workdir / f"{name}.csv", rows or list_rows(30), "csv")
    out = workdir / f"{name}.hwidx"
    subprocess.run(
        [sys.executable, "-m", "hashwatch.cli", "index", "build", str(lst), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def index_seeds(workdir: Path) -> list[bytes]:
    full = build_index_file(workdir, list_rows(30), "full")
    no_items = [{**r, "item_id": ""} for r in list_rows(10, seed=1)]
    plain = build_index_file(workdir, no_items, "plain")
    return [full.read_bytes(), plain.read_bytes()]


# ---------------------------------------------------------------- images


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int, mode: int = 2, depth: int = 8, body: bytes = b"\x00") -> bytes:
    """A PNG declaring ``width`` x ``height`` whose IDAT holds ``body`` (compressed): a tiny file."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, mode, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(body, 9))
        + _png_chunk(b"IEND", b"")
    )


def png_bomb(width: int, height: int, mode: int = 0, depth: int = 8) -> bytes:
    """A PNG whose every row is zeros: ``width * height`` pixels from a few kilobytes of zlib."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[mode]
    row = b"\x00" * (1 + width * channels * depth // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, mode, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def gif_header_only(width: int, height: int) -> bytes:
    """A GIF89a with a ``width`` x ``height`` screen and one 1x1 frame."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + frame + b"\x3b"


def jpeg_header_only(width: int, height: int) -> bytes:
    """A baseline JPEG's headers declaring ``width`` x ``height``, then end of image: no scan data."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    sos = data.find(b"\xff\xda")
    return bytes(data[: sos + 2 + struct.unpack(">H", data[sos + 2 : sos + 4])[0]]) + b"\xff\xd9"


def webp_header_only(width: int, height: int) -> bytes:
    """A WebP (VP8X extended header) declaring a ``width`` x ``height`` canvas with a tiny lossless body."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="WEBP", lossless=True)
    vp8l = buf.getvalue()[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def image_seeds(bombs: bool = True) -> list[bytes]:
    """Synthetic images in every decoded format (several modes and sizes), headers declaring huge sizes over
    tiny bodies and (``bombs``) small files that decode to 16-36 M pixels."""
    from hashwatch.sites.synthetic_images import encode, synthetic_photo

    photo = synthetic_photo(7, (96, 72))
    out = [
        encode(photo, "JPEG"),
        encode(photo, "JPEG", progressive=True, quality=60),
        encode(photo.convert("L"), "JPEG"),
        encode(photo.convert("CMYK"), "JPEG"),
        encode(photo, "PNG"),
        encode(photo.convert("RGBA"), "PNG"),
        encode(photo.convert("P"), "PNG", transparency=3),
        encode(photo.convert("I;16"), "PNG"),
        encode(photo.convert("1"), "PNG"),
        encode(photo, "GIF"),
        encode(photo, "GIF", save_all=True, append_images=[photo.rotate(90)], duration=50, loop=0),
        encode(photo, "WEBP"),
        encode(photo, "WEBP", lossless=True),
        encode(photo.convert("RGBA"), "WEBP", save_all=True, append_images=[photo.convert("RGBA")]),
        encode(photo, "BMP"),
        encode(photo, "TIFF"),
        encode(photo.convert("F"), "TIFF"),
        encode(photo, "TIFF", compression="tiff_deflate"),
    ]
    exif = photo.getexif()
    exif[0x0112] = 6
    out.append(encode(photo, "JPEG", exif=exif.tobytes()))
    out += [
        png_header_only(65535, 65535),
        png_header_only(2**31 - 1, 1),
        gif_header_only(65535, 65535),
        jpeg_header_only(65500, 65500),
        webp_header_only(16384, 16384),
    ]
    if bombs:
        out += [png_bomb(6000, 6000), png_bomb(4000, 4000, depth=16), png_bomb(20000, 20000, depth=1)]
    return out


# ---------------------------------------------------------------- registry


def seeds(target: str, workdir: Path, bombs: bool = False) -> list[bytes]:
    """The seed inputs of ``target`` (a key of ``fuzz_targets.TARGETS``); ``workdir`` holds any files made."""
    workdir.mkdir(parents=True, exist_ok=True)
    if target == "url":
        return [s.encode("utf-8") for s in URL_SEEDS]
    if target == "html":
        return html_seeds(workdir)
    if target == "data_uri":
        return data_uri_seeds()
    if target == "robots":
        return list(ROBOTS_SEEDS)
    if target == "list":
        return list_seeds(workdir)
    if target == "index":
        return index_seeds(workdir)
    if target == "image":
        return image_seeds(bombs)
    raise KeyError(f"no seeds for fuzz target {target!r}")
