"""Beam-free crawling: URL rules, robots.txt, politeness, the SSRF guard, fetching, sniffing, HTML
extraction, and a driver that crawls without Beam. ``transforms/crawl.py`` adapts it to Beam;
docs/crawling.md explains it.
"""
