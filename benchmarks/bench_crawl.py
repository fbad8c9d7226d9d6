"""Crawl benchmark: hashwatch (Beam transforms on the embedded runner, and the Beam-free driver) vs Scrapy.

The site is the GIMP user manual from the Debian package ``gimp-help-en`` (685 HTML pages, 1,963 images),
extracted into ``.cache/gimp-help`` (gitignored) and served by a threaded HTTP/1.1 server in its own process
on 127.0.0.1. Every crawler starts at ``index.html`` with the same settings: politeness delay 0, 16 concurrent
requests, 8 per host, robots.txt off, the host as scope, the same depth, cookies off; images are downloaded
in full and their bodies discarded (hashwatch hashes them with MD5, SHA-1, SHA-256 and CRC32C, which is more
work, not less). Nothing leaves loopback: image URLs off the local host are dropped before fetching (the
manual links two images on commons.wikimedia.org), and the run fails if any fetched URL is not local.

    make bench-crawl                       # 3 repeats of each, prints a Markdown table
    python benchmarks/bench_crawl.py --repeats 5 --json out.json

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


def _config(max_depth: int):
    from hashwatch.crawling.config import CrawlConfig

    return CrawlConfig(
        per_host_delay=0,
        per_host_concurrency=PER_HOST,
        fetch_threads=CONCURRENCY,
        ignore_robots=True,
        allow_private_networks=True,
        max_depth=max_depth,
        max_pages_per_host=100_000,
        max_links_per_page=100_000,
        deny_patterns=(),
    )


def _is_local(url: str, port: int) -> bool:
    parts = urlsplit(url)
    return parts.hostname == "127.0.0.1" and parts.port == port


def run_driver(seed: str, port: int, max_depth: int) -> dict:
    from benchmarks.crawl_driver import crawl, fetch_images
    from hashwatch.crawling.frontier import image_tasks
    from hashwatch.crawling.image_handler import DigestImageHandler

    config = _config(max_depth)
    started = time.perf_counter()
    report = crawl([seed], config, DigestImageHandler(), run_id="bench", fetch_images=False)
    tasks = [t for t in image_tasks(report.image_refs) if _is_local(t.image_url, port)]
    rows, _records = fetch_images(tasks, config, DigestImageHandler(), run_id="bench")
    elapsed = time.perf_counter() - started
    return _summary(report.fetch_log + rows, elapsed, port)


def run_beam(seed: str, port: int, max_depth: int) -> dict:
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from hashwatch.crawling.image_handler import DigestImageHandler
    from transforms.crawl import CrawlRounds, FetchImages, ImageTasksFromRefs

    config = _config(max_depth)
    handler = DigestImageHandler()
    out = CACHE / f"beam-rows-{os.getpid()}.jsonl"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    with beam.Pipeline(runner=FnApiRunner()) as p:
        crawled = p | beam.Create([seed]) | "Crawl" >> CrawlRounds(config, "bench", handler)
        images = (
            crawled.image_refs
            | "Tasks" >> ImageTasksFromRefs()
            | "LocalOnly" >> beam.Filter(lambda t, port=port: _is_local(t.image_url, port))
            | "Images" >> FetchImages(config, "bench", handler)
        )
        rows = (crawled.fetch_log, images.fetch_log) | beam.Flatten()
        (
            rows
            | beam.Map(lambda r: json.dumps([r.kind, r.url, r.outcome]))
            | beam.combiners.ToList()
            | beam.Map(lambda lines, path=str(out): Path(path).write_text("\n".join(lines)))
        )
    elapsed = time.perf_counter() - started
    kinds = [json.loads(line) for line in out.read_text().splitlines()]
    out.unlink()

    class Row:
        def __init__(self, kind, url, outcome):
            self.kind, self.url, self.outcome = kind, url, outcome

    return _summary([Row(*k) for k in kinds], elapsed, port)


def _summary(rows, elapsed: float, port: int) -> dict:
    pages = sum(1 for r in rows if r.kind == "page" and r.outcome == "ok")
    images = sum(1 for r in rows if r.kind == "image" and r.outcome == "ok" and not r.url.startswith("data:"))
    for r in rows:
        if r.outcome != "skipped" and not r.url.startswith("data:") and not _is_local(r.url, port):
            raise RuntimeError(f"fetched a URL off the local server: {r.url}")
    return {"seconds": elapsed, "pages": pages, "images": images}


# --- Scrapy ---------------------------------------------------------------------------------------

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp", ".tif", ".tiff")


def run_scrapy_here(seed: str, max_depth: int, result_file: str) -> None:
    """Runs in a subprocess (Twisted's reactor cannot restart): crawl, then write the counts."""
    import scrapy
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
                counts["images"] += 1  # the body is discarded

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


def run_scrapy(seed: str, port: int, max_depth: int) -> dict:
    result_file = CACHE / f"scrapy-{os.getpid()}.json"
    result_file.unlink(missing_ok=True)
    subprocess.run([sys.executable, __file__, "--scrapy", seed, str(max_depth), str(result_file)], check=True)
    result = json.loads(result_file.read_text())
    result_file.unlink()
    return result


# --- main -----------------------------------------------------------------------------------------

CRAWLERS = {"hashwatch Beam (FnApiRunner)": run_beam, "hashwatch driver": run_driver, "Scrapy": run_scrapy}


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
    parser.add_argument("--max-depth", type=int, default=20, help="deep enough for the whole manual")
    parser.add_argument("--only", choices=list(CRAWLERS), action="append")
    parser.add_argument("--json", help="also write the raw runs here")
    args = parser.parse_args(argv)

    root = site_root()
    server = StaticServer(root)
    seed = f"{server.base}/index.html"
    runs: dict[str, list[dict]] = {name: [] for name in (args.only or CRAWLERS)}
    try:
        for repeat in range(args.repeats):
            for name, results in runs.items():  # interleaved: drift on the machine hits every crawler alike
                result = CRAWLERS[name](seed, server.port, args.max_depth)
                results.append(result)
                print(f"run {repeat + 1} {name}: {result}", file=sys.stderr, flush=True)
    finally:
        server.close()

    table = render(runs, args.repeats)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2))
    return 0


def render(runs: dict[str, list[dict]], repeats: int) -> str:
    scrapy_images = None
    if "Scrapy" in runs:
        scrapy_images = statistics.median(r["images"] / r["seconds"] for r in runs["Scrapy"])
    lines = [
        f"Machine: {machine()}. Medians of {repeats} runs; pages and images fetched OK per run.",
        "",
        "| crawler | pages | images | seconds | pages/s | images/s | images/s vs Scrapy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        pages_per_s = statistics.median(r["pages"] / r["seconds"] for r in results)
        images_per_s = statistics.median(r["images"] / r["seconds"] for r in results)
        ratio = f"{images_per_s / scrapy_images:.2f}" if scrapy_images else "-"
        pages = "/".join(sorted({str(r["pages"]) for r in results}))
        images = "/".join(sorted({str(r["images"]) for r in results}))
        rates = f"{seconds:.1f} | {pages_per_s:.0f} | {images_per_s:.0f}"
        lines.append(f"| {name} | {pages} | {images} | {rates} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--scrapy":
        run_scrapy_here(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.path.insert(0, str(REPO))
        sys.exit(main())
