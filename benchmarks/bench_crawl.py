"""Crawl benchmark: hashwatch's crawl-and-match pipeline (embedded runner: default, and two workers) vs Scrapy.

The site is the GIMP user manual from the Debian package ``gimp-help-en`` (685 HTML pages, 1,963 images whose
bytes are all distinct but 6), extracted into ``.cache/gimp-help`` (gitignored) and served by a threaded
HTTP/1.1 server in its own process on 127.0.0.1. Every crawler starts at ``index.html`` with the same
settings: politeness delay 0, 16 concurrent requests, 8 per host, robots.txt off, the host as scope, the
same depth, cookies off; images are downloaded in full. Scrapy computes MD5, SHA-1, SHA-256 and pHash
(imagehash) of each image; hashwatch runs ``crawl_match`` as a user would: its full default hash set with
the query-side candidates, matched against an index (a one-entry list none of the images match), Parquet
written. Nothing leaves loopback: image URLs off the local host are dropped before fetching (the manual links
two images on commons.wikimedia.org, denied by a ``--deny-pattern``; the runs fail if a fetched URL is not
local).

Each crawler runs in a process of its own; the parent samples the resident memory of that process and its
children (the runner's workers) every 50 ms: "peak MB" is the largest sum seen. Runs alternate between the
crawlers; the table shows medians and ratios against Scrapy's medians of the same run. For hashwatch the
spans of the page fetches and of the image fetches (from ``fetch_log``'s ``fetched_at``) show how much the
two overlap.

    make bench-crawl                                   # 3 repeats, --max-depth 2, prints a Markdown table
    python benchmarks/bench_crawl.py --repeats 1 --quick   # 120 pages: a quick look while developing

First run: ``apt-get update`` once (the script then runs ``apt-get download gimp-help-en`` and ``dpkg -x``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "gimp-help"
SITE_SUBDIR = Path("usr/share/gimp/2.0/help/en")
CONCURRENCY, PER_HOST = 16, 8


# --- the site -------------------------------------------------------------------------------------


def site_root() -> Path:
    root = CACHE / "root" / SITE_SUBDIR
    if (root / "index.html").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = sorted(CACHE.glob("gimp-help-en_*.deb"))
    if not debs:
        command = ["apt-get", "download", "gimp-help-en"]
        result = subprocess.run(command, check=False, cwd=CACHE, capture_output=True, text=True)
        debs = sorted(CACHE.glob("gimp-help-en_*.deb"))
        if result.returncode != 0 or not debs:
            sys.exit(
                "could not download gimp-help-en: run `apt-get update` once, then try again\n" + result.stderr
            )
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(CACHE / "root")], check=True)
    return root


def serve(directory: str, port_file: str) -> None:
    """Run a threaded HTTP/1.1 static server on 127.0.0.1 (in a process of its own) and write its port."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
        # (40 ms on Linux) and every crawler measures that stall instead of itself.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), partial(Handler, directory=directory))
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


class StaticServer:
    def __init__(self, root: Path) -> None:
        port_file = CACHE / f"port-{os.getpid()}"
        port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen([sys.executable, __file__, "--serve", str(root), str(port_file)])
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("static server did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        port_file.unlink()
        self.base = f"http://127.0.0.1:{self.port}"
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --- hashwatch ------------------------------------------------------------------------------------

HASHWATCH_MODES = {
    "hashwatch (default)": [],
    "hashwatch (2 workers)": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}


def run_hashwatch_here(mode: str, seed: str, max_depth: int, result_file: str, extra: list[str]) -> None:
    """Runs in a subprocess: ``crawl_match`` as a user runs it, then the counts from its fetch_log."""
    import tempfile

    from pipelines.crawl_match import run
    from pipelines.run_report import read_run_table

    port = urlsplit(seed).port
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as out:
        seeds, hash_list = Path(out) / "seeds.txt", Path(out) / "list.csv"
        seeds.write_text(seed + "\n")
        hash_list.write_text(
            f"hash_type,hash_value,category,source,list_version,deleted\nmd5,{'ab' * 16},A,bench,1,false\n"
        )
        started = time.perf_counter()
        report = run(
            [
                f"--seeds={seeds}",
                f"--hash-list={hash_list}",
                f"--output-dir={out}/o",
                "--allow-private-networks",
                "--per-host-delay=0",
                "--ignore-robots",
                f"--fetch-threads={CONCURRENCY}",
                f"--per-host-concurrency={PER_HOST}",
                "--max-pages-per-host=100000",
                "--max-links-per-page=100000",
                # Only URLs of the local server: the manual's two off-site images are denied, not fetched.
                "--no-default-deny-patterns",
                f"--deny-pattern=^(?!http://127\\.0\\.0\\.1:{port}/)",
                f"--max-depth={max_depth}",
                "--progress-interval=0",
                "--allow-empty",
                *HASHWATCH_MODES[mode],
                *extra,
            ]
        )
        seconds = time.perf_counter() - started
        rows = read_run_table(f"{out}/o", "fetch_log", report.started[:10], report.run_id).to_pylist()
    result = _summary(rows, seconds, port)
    Path(result_file).write_text(json.dumps(result))


def _summary(rows: list[dict], elapsed: float, port: int) -> dict:
    """Pages and images fetched OK, and the spans of their fetch starts (seconds from the first fetch)."""
    pages = [r for r in rows if r["kind"] == "page" and r["outcome"] == "ok"]
    images = [
        r for r in rows if r["kind"] == "image" and r["outcome"] == "ok" and not r["url"].startswith("data:")
    ]
    for r in rows:
        if r["outcome"] != "skipped" and not r["url"].startswith("data:") and not _is_local(r["url"], port):
            raise RuntimeError(f"fetched a URL off the local server: {r['url']}")

    def stamp(row) -> float | None:  # Parquet gives a datetime
        value = row["fetched_at"]
        return value.timestamp() if value is not None else None

    times = [t for t in map(stamp, pages + images) if t is not None]
    zero = min(times) if times else 0.0

    def span(group):
        stamps = [t for t in map(stamp, group) if t is not None]
        return [round(min(stamps) - zero, 2), round(max(stamps) - zero, 2)] if stamps else None

    return {
        "seconds": elapsed,
        "pages": len(pages),
        "images": len(images),
        "page_span": span(pages),
        "image_span": span(images),
    }


def _is_local(url: str, port: int) -> bool:
    parts = urlsplit(url)
    return parts.hostname == "127.0.0.1" and parts.port == port


# --- Scrapy ---------------------------------------------------------------------------------------

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp", ".tif", ".tiff")


def run_scrapy_here(seed: str, max_depth: int, result_file: str) -> None:
    """Runs in a subprocess (Twisted's reactor cannot restart): crawl, then write the counts."""
    import hashlib
    import io

    import imagehash
    import scrapy
    from PIL import Image
    from scrapy.crawler import CrawlerProcess

    host = urlsplit(seed).netloc
    counts = {"pages": 0, "images": 0}

    class BenchSpider(scrapy.Spider):
        name = "bench"
        start_urls = [seed]

        def parse(self, response):
            if not isinstance(response, scrapy.http.HtmlResponse):
                return
            counts["pages"] += 1
            depth = response.meta.get("page_depth", 0)
            sources = response.css("img::attr(src)").getall()
            for srcset in response.css("img::attr(srcset), source::attr(srcset)").getall():
                sources += [part.strip().split(" ")[0] for part in srcset.split(",") if part.strip()]
            for src in sources:
                url = response.urljoin(src)
                if urlsplit(url).netloc == host:
                    yield scrapy.Request(url, callback=self.image)
            if depth >= max_depth:
                return
            for href in response.css("a::attr(href), area::attr(href)").getall():
                url = response.urljoin(href).split("#", 1)[0]
                if urlsplit(url).netloc != host or not url.startswith("http"):
                    continue
                if url.lower().endswith(IMAGE_EXTENSIONS):
                    yield scrapy.Request(url, callback=self.image)
                else:
                    yield scrapy.Request(url, callback=self.parse, meta={"page_depth": depth + 1})

        def image(self, response):
            if response.status == 200:
                counts["images"] += 1
                body = response.body
                hashlib.md5(body).digest()
                hashlib.sha1(body).digest()
                hashlib.sha256(body).digest()
                try:  # what a Scrapy image pipeline with a perceptual hash would do; the hashes are dropped
                    with Image.open(io.BytesIO(body)) as picture:
                        imagehash.phash(picture)
                except Exception:  # noqa: BLE001 - an image Pillow cannot read (the manual has a few SVGs)
                    counts["undecodable"] = counts.get("undecodable", 0) + 1

    process = CrawlerProcess(
        settings={
            "LOG_LEVEL": "ERROR",
            "ROBOTSTXT_OBEY": False,
            "CONCURRENT_REQUESTS": CONCURRENCY,
            "CONCURRENT_REQUESTS_PER_DOMAIN": PER_HOST,
            "DOWNLOAD_DELAY": 0,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "DEPTH_LIMIT": 0,
            "RETRY_TIMES": 2,
            "USER_AGENT": "hashwatch-bench-scrapy",
        }
    )
    process.crawl(BenchSpider)
    started = time.perf_counter()
    process.start()
    counts["seconds"] = time.perf_counter() - started
    Path(result_file).write_text(json.dumps(counts))


# --- running and measuring one crawler -------------------------------------------------------------

CRAWLERS = [*HASHWATCH_MODES, "Scrapy"]
QUICK_SEED, QUICK_DEPTH = "filters.html", 1  # --quick: one section of the manual


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(child) for child in handle.read().split()]
        except OSError:
            continue
    return found


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def run_crawler(name: str, seed: str, max_depth: int, extra: list[str]) -> dict:
    """Run one crawler in a process of its own; its counts, and the peak resident memory of its tree."""
    result_file = CACHE / f"result-{os.getpid()}.json"
    result_file.unlink(missing_ok=True)
    if name == "Scrapy":
        command = [sys.executable, __file__, "--scrapy", seed, str(max_depth), str(result_file)]
    else:
        command = [
            sys.executable,
            __file__,
            "--hashwatch",
            name,
            seed,
            str(max_depth),
            str(result_file),
            *extra,
        ]
    child = subprocess.Popen(command)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _rss_bytes(_tree(child.pid)))
        time.sleep(0.05)
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed with exit status {child.returncode}")
    result = json.loads(result_file.read_text())
    result_file.unlink()
    result["peak_mb"] = round(peak / 2**20)
    return result


# --- main -----------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    if shutil.which("lscpu"):
        for line in subprocess.run(
            ["lscpu"], check=False, capture_output=True, text=True
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-depth", type=int, default=2, help="the manual is within 2 links of index.html")
    parser.add_argument(
        "--quick", action="store_true", help=f"crawl {QUICK_SEED} to depth {QUICK_DEPTH} only"
    )
    parser.add_argument("--only", choices=CRAWLERS, action="append")
    parser.add_argument("--json", help="also write the raw runs here")
    parser.add_argument(
        "--hashwatch-flag",
        action="append",
        default=[],
        help="a crawl_match flag for hashwatch's runs (repeat)",
    )
    args = parser.parse_args(argv)

    root = site_root()
    server = StaticServer(root)
    seed = f"{server.base}/{QUICK_SEED if args.quick else 'index.html'}"
    depth = QUICK_DEPTH if args.quick else args.max_depth
    runs: dict[str, list[dict]] = {name: [] for name in (args.only or CRAWLERS)}
    load = [os.getloadavg()[0]]
    try:
        for repeat in range(args.repeats):
            for name, results in runs.items():  # interleaved: drift on the machine hits every crawler alike
                result = run_crawler(name, seed, depth, args.hashwatch_flag)
                results.append(result)
                print(f"run {repeat + 1} {name}: {result}", file=sys.stderr, flush=True)
                load.append(os.getloadavg()[0])
    finally:
        server.close()

    print(render(runs, args.repeats, load))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "load": load, "runs": runs}, indent=2))
    return 0


def render(runs: dict[str, list[dict]], repeats: int, load: list[float]) -> str:
    def median(results, key):
        return statistics.median(key(r) for r in results)

    base = runs.get("Scrapy")
    lines = [
        f"Machine: {machine()}; load average (1 min) {min(load):.1f}-{max(load):.1f} during the runs. "
        f"Medians of {repeats} runs; pages and images fetched OK per run, rates over the whole crawl's wall time.",
        "",
        "| crawler | pages | images | seconds | pages/s | images/s | peak MB | pages/s, images/s, memory vs Scrapy "
        "| page fetches (s) | image fetches (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, results in runs.items():
        seconds = median(results, lambda r: r["seconds"])
        pages_s = median(results, lambda r: r["pages"] / r["seconds"])
        images_s = median(results, lambda r: r["images"] / r["seconds"])
        peak = median(results, lambda r: r["peak_mb"])
        ratio = "-"
        if base and name != "Scrapy":
            ratio = (
                f"{pages_s / median(base, lambda r: r['pages'] / r['seconds']):.2f}x, "
                f"{images_s / median(base, lambda r: r['images'] / r['seconds']):.2f}x, "
                f"{peak / median(base, lambda r: r['peak_mb']):.2f}x"
            )
        pages = "/".join(sorted({str(r["pages"]) for r in results}))
        images = "/".join(sorted({str(r["images"]) for r in results}))
        spans = [
            "/".join(f"{r[key][0]:.1f}-{r[key][1]:.1f}" for r in results if r.get(key)) or "-"
            for key in ("page_span", "image_span")
        ]
        lines.append(
            f"| {name} | {pages} | {images} | {seconds:.1f} | {pages_s:.0f} | {images_s:.0f} | {peak:.0f} "
            f"| {ratio} | {spans[0]} | {spans[1]} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--scrapy":
        run_scrapy_here(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "--hashwatch":
        sys.path.insert(0, str(REPO))
        run_hashwatch_here(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6:])
    else:
        sys.path.insert(0, str(REPO))
        sys.exit(main())
