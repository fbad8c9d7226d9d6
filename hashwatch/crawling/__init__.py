"""Beam-free crawling: URL rules, robots.txt, politeness, the SSRF guard, fetching, sniffing, HTML
extraction, the frontier and one page or image task at a time. ``transforms/crawl.py`` runs it on Beam;
docs/crawling.md explains it.
"""
