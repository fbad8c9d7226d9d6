"""A slow loopback site for the live-progress tests, and what those tests check in a run's logs and manifest.

:func:`start_slow_site` serves, on 127.0.0.1, a crawl that exercises every counter of
:data:`transforms.run_counters.CRAWL_COUNTERS` (batch): a seed file with a line that is not UTF-8 and a
gzipped one cut off part-way; an index page linking 8 pages (and a missing one, and
a link too long to keep), each page with 4 synthetic JPEGs (one missing, one truncated), two pages with
the same inline ``data:`` PNG, links beyond ``--max-depth 1``; a hash list with the MD5s of two of the
photos and an allowlist with one of them. Every page and image answer waits ``delay`` seconds, so with
``--per-host-concurrency 2`` the fetching alone lasts several seconds, and the time of every answer is
recorded: a progress line logged before the last answer was logged while the crawl was still fetching.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hashwatch.sites.synthetic_images import encode, synthetic_photo
from transforms.run_counters import CRAWL_COUNTERS

PAGES = 8
IMAGES_PER_PAGE = 4
# Bodies hashed: every <img> but the missing one (the truncated one is hashed, then fails to decode), and
# the inline PNG once (its second page gets it from the cache).
HASHED = PAGES * IMAGES_PER_PAGE - 1 + 1
_LINE = re.compile(r"^progress: (?:pages|fetches)=(\d+).* images=(\d+)")


@dataclass
class SlowSite:
    base: str
    seeds: list[Path]
    hash_list: Path
    allowlist: Path
    answered: list[float] = field(default_factory=list)  # time.time() of every page and image answer

    def flags(self, output: Path, progress_interval: float = 1.0) -> list[str]:
        return [
            *(f"--seeds={seeds}" for seeds in self.seeds),
            f"--hash-list={self.hash_list}",
            f"--allowlist={self.allowlist}",
            f"--output-dir={output}",
            "--allow-private-networks",
            "--per-host-delay=0",
            "--max-crawl-delay=0",
            "--per-host-concurrency=2",
            "--max-depth=1",
            f"--progress-interval={progress_interval}",
        ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        site = self.server.site
        answer = site.routes.get(self.path)
        if answer is None:
            status, content_type, body = 404, "text/html", b"<html>not here</html>"
        else:
            time.sleep(site.delay)
            status, content_type, body = answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path != "/robots.txt":
            with site.lock:
                site.answered.append(time.time())


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Routes:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.answered: list[float] = []
        self.lock = threading.Lock()


def _page(body: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>".encode()


def start_slow_site(folder: Path, delay: float = 0.3):
    """Serve the site until the returned ``stop()`` is called. Returns (SlowSite, stop)."""
    routes = _Routes(delay)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.site = routes
    base = f"http://127.0.0.1:{server.server_address[1]}"
    photos: dict[str, bytes] = {}
    png = encode(synthetic_photo(7, (24, 24)), "PNG")
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    links = [f'<a href="/p{i}">page {i}</a>' for i in range(PAGES)]
    links.append('<a href="/gone">gone</a>')  # a page that fails: 404
    links.append(f'<a href="/{"x" * 2100}">too long</a>')  # dropped, counted
    routes.routes["/"] = (200, "text/html", _page("".join(links)))
    for i in range(PAGES):
        images = []
        for j in range(IMAGES_PER_PAGE):
            path = f"/img/{i}-{j}.jpg"
            if (i, j) == (2, 3):
                path = "/img/missing.jpg"  # 404
            elif (i, j) == (3, 3):
                routes.routes[path] = (200, "image/jpeg", encode(synthetic_photo(900, (96, 72)))[:300])
            else:
                photos[path] = encode(synthetic_photo(100 * i + j, (96, 72)))
                routes.routes[path] = (200, "image/jpeg", photos[path])
            images.append(f'<img src="{path}">')
        if i in (0, PAGES - 1):  # the same inline image on two pages fetched apart: hashed once, one row
            images.append(f'<img src="{inline}">')
        images.append(f'<a href="/deeper{i}">beyond --max-depth</a>')
        routes.routes[f"/p{i}"] = (200, "text/html", _page("".join(images)))
    folder.mkdir(parents=True, exist_ok=True)
    seeds = folder / "seeds.txt"
    seeds.write_bytes(f"# the slow site\n{base}/\n".encode() + b"\xff\xfe not UTF-8\n")
    cut_off = folder / "more-seeds.txt.gz"  # breaks part-way: an unreadable_seed_file row
    cut_off.write_bytes(gzip.compress(b"# nothing but comments\n" * 5000)[:200])
    listed, allowed = photos["/img/0-0.jpg"], photos["/img/1-0.jpg"]
    hash_list = folder / "list.csv"
    hash_list.write_text(
        "hash_type,hash_value,category,source,list_version,deleted\n"
        + "".join(f"md5,{hashlib.md5(b).hexdigest()},A,slow-site,v1,false\n" for b in (listed, allowed))
    )
    allowlist = folder / "allowlist.csv"
    allowlist.write_text(f"hash_type,hash_value,reason\nmd5,{hashlib.md5(allowed).hexdigest()},a test\n")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    site = SlowSite(base, [seeds, cut_off], hash_list, allowlist, routes.answered)
    return site, stop


def live_progress_lines(records: list[logging.LogRecord], before: float) -> list[str]:
    """The launcher's progress lines logged before ``before`` (a time.time()) with pages and images > 0."""
    lines = []
    for record in records:
        if record.name != "hashwatch.progress" or record.created >= before:
            continue
        match = _LINE.match(record.getMessage())
        if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
            lines.append(record.getMessage())
    return lines


def missing_metrics(manifest: dict) -> list[str]:
    """The batch crawl's catalogued counters and distributions the manifest lacks (none, when all is well)."""
    missing = []
    for spec in CRAWL_COUNTERS:
        if spec.streaming or spec.videos:  # the slow site has no video: test_video_crawl_e2e checks those
            continue
        table = manifest.get("beam_distributions" if spec.kind == "distribution" else "beam_counters", {})
        if not any(spec.matches(key) for key in table):
            missing.append(f"{spec.key} ({spec.kind})")
    return missing
