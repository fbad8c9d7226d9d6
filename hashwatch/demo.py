"""``make demo``: a synthetic two-host site on loopback, crawled and matched end to end in a minute or two.

Generates seeded synthetic photos (never real material), publishes originals, edited copies (resized,
re-encoded, grayscale, cropped, flipped, rotated, as PNG) and distractors on two loopback hosts, builds a
known-hash list from the originals, runs the crawl-and-match pipeline on the embedded runner, prints the
matches as a table, audits the output for image content, and says where the Parquet files are.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["main"]


def _short(url: str | None) -> str:
    if not url:
        return "-"
    if url.startswith("data:"):
        return url.split(";")[0] + ";…"
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path}"


def format_matches(table) -> str:
    """One line per (image, category, variant): the hash types that matched, the largest perceptual
    distance, and the pages that showed the image."""
    groups: dict[tuple, dict] = {}
    for row in table.to_pylist():
        key = (_short(row["image_url"]), row["category"] or "", row["variant"] or "")
        group = groups.setdefault(key, {"exact": set(), "near": set(), "distance": 0, "pages": set()})
        group[row["match_kind"]].add(row["hash_type"])
        if row["match_kind"] == "near":
            group["distance"] = max(group["distance"], row["distance"])
        group["pages"].add(_short(row["page_url"]))
    header = ("image", "exact", "near (max distance)", "variant", "cat", "pages")
    lines = [
        (
            image,
            " ".join(sorted(g["exact"])) or "-",
            f"{' '.join(sorted(g['near']))} ({g['distance']})" if g["near"] else "-",
            variant or "-",
            category,
            ", ".join(sorted(g["pages"])),
        )
        for (image, category, variant), g in sorted(groups.items())
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in [header, *lines]]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hashwatch demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=".cache/demo", help="where the site, list and output go")
    parser.add_argument("--known", type=int, default=4, help="synthetic originals in the hash list")
    parser.add_argument("--distractors", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hashwatch").setLevel(logging.INFO)

    from hashwatch.audit import ContentIndex, audit_tree
    from hashwatch.sites.demo_site import build_site, write_hash_list
    from hashwatch.sites.server import StaticServer
    from pipelines.crawl_match import run
    from pipelines.run_report import read_run_table

    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    site_dir = workdir / "site"
    (site_dir / "host0").mkdir(parents=True)
    (site_dir / "host1").mkdir(parents=True)
    with (
        StaticServer(site_dir / "host0", "127.0.0.1") as a,
        StaticServer(site_dir / "host1", "127.0.0.2") as b,
    ):
        site = build_site(
            site_dir, [a.base_url, b.base_url], known=args.known, distractors=args.distractors, videos=True
        )
        hash_list = write_hash_list(site, workdir / "demo-hash-list.csv")
        seeds = workdir / "seeds.txt"
        seeds.write_text("# the demo site's two hosts\n" + "\n".join(site.seeds) + "\n")
        output = workdir / "output"
        print(
            f"demo site: {a.base_url} and {b.base_url} ({len(site.images)} image URLs, {len(site.videos)} video)"
        )
        print(f"hash list: {hash_list} ({len(site.listed)} originals, {len(site.listed_videos)} video)")
        report = run(
            [
                f"--seeds={seeds}",
                f"--hash-list={hash_list}",
                f"--output-dir={output}",
                "--allow-private-networks",  # the demo site is on loopback
                "--per-host-delay=0.1",
                "--max-depth=2",
                "--progress-interval=5",
            ]
        )
    matches = read_run_table(str(output), "matches", report.started[:10], report.run_id)
    print()
    print(format_matches(matches) if matches.num_rows else "no matches")
    print()
    print(report.summary_text())
    reference = ContentIndex()
    reference.add_files(
        str(p) for p in site_dir.rglob("*") if p.is_file() and p.suffix in {".jpg", ".png", ".mp4"}
    )
    findings = audit_tree(str(output), reference)
    print()
    print(
        f"analyst-safety audit of {output}: {'FAILED' if findings else 'passed'} ({len(findings)} findings)"
    )
    for finding in findings[:20]:
        print(f"  {finding}")
    print()
    print("Query it with DuckDB, e.g.:")
    print(
        f"  duckdb -c \"SELECT hash_type, match_kind, count(*) FROM read_parquet('{output}/matches/*/*/*.parquet',"
    )
    print('           hive_partitioning=true) GROUP BY ALL"')
    return 1 if findings or report.state != "DONE" else 0


if __name__ == "__main__":
    sys.exit(main())
