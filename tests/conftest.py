"""Shared fixtures: the synthetic demo site served on two loopback hosts, and its known-hash list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hashwatch.sites.server import StaticServer

# Flink fixtures (job server, embedded and standalone clusters) live in tests/flink_support.py.
pytest_plugins = ["flink_support"]


@dataclass
class ServedSite:
    site: object  # hashwatch.sites.demo_site.Site
    hash_list: Path
    seeds_file: Path
    root: Path


@pytest.fixture(scope="session")
def served_demo_site(tmp_path_factory):
    """The demo site (4 known photos, their edits, 4 distractors, the failure cases) on 127.0.0.1 and
    127.0.0.2, with its hash list and a seeds file. Session-scoped: several end-to-end tests share it."""
    from hashwatch.sites.demo_site import build_site, write_hash_list

    root = tmp_path_factory.mktemp("demo-site")
    (root / "host0").mkdir()
    (root / "host1").mkdir()
    with StaticServer(root / "host0", "127.0.0.1") as a, StaticServer(root / "host1", "127.0.0.2") as b:
        site = build_site(root, [a.base_url, b.base_url])
        hash_list = write_hash_list(site, root / "list.csv")
        seeds = root / "seeds.txt"
        seeds.write_text("\n".join(site.seeds) + "\n")
        yield ServedSite(site, hash_list, seeds, root)
