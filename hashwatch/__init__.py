"""hashwatch: crawl seed URLs, hash every image, match the hashes against known-hash lists."""

__version__ = "0.1.0"
