import threading
import time

from hashwatch.crawling.robots import RobotsCache, RobotsRules, rules_from_fetch, verdict

ROBOTS = b"""User-agent: hashwatch
Disallow: /private/
Crawl-delay: 2

User-agent: *
Disallow: /
"""


def test_parsed_rules_for_our_agent():
    rules = rules_from_fetch(200, ROBOTS, None, None)
    assert verdict(rules, "http://a/public.html", "hashwatch", False).allowed
    blocked = verdict(rules, "http://a/private/x.html", "hashwatch", False)
    assert not blocked.allowed and blocked.error_kind == "robots_disallowed" and blocked.outcome == "skipped"
    assert blocked.decision == "disallowed"
    assert not verdict(rules, "http://a/public.html", "otherbot", False).allowed
    assert rules.crawl_delay("hashwatch") == 2.0


def test_rfc9309_status_rules():
    missing = rules_from_fetch(404, None, "bad_status", "HTTP 404")
    assert verdict(missing, "http://a/x", "hashwatch", False).allowed
    assert verdict(missing, "http://a/x", "hashwatch", False).decision == "unavailable"
    error = rules_from_fetch(503, None, "bad_status", "HTTP 503")
    v = verdict(error, "http://a/x", "hashwatch", False)
    assert not v.allowed and v.error_kind == "robots_disallowed" and "503" in v.error_message
    down = rules_from_fetch(None, None, "connect", "could not connect to a")
    v = verdict(down, "http://a/x", "hashwatch", False)
    assert not v.allowed and v.error_kind == "connect" and v.outcome == "failed"


def test_ignore_robots_overrides_everything():
    rules = rules_from_fetch(200, b"User-agent: *\nDisallow: /", None, None)
    v = verdict(rules, "http://a/x", "hashwatch", True)
    assert v.allowed and v.decision == "ignored"


def test_cache_fetches_each_host_once_even_under_concurrency():
    cache = RobotsCache()
    calls = []

    def fetch(host):
        calls.append(host)
        time.sleep(0.1)
        return RobotsRules(state="allow_all")

    threads = [threading.Thread(target=cache.rules, args=("http://a", fetch)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.rules("http://b", fetch)
    assert calls == ["http://a", "http://b"]


def test_cache_is_bounded():
    cache = RobotsCache(max_hosts=2)
    for host in ("h1", "h2", "h3"):
        cache.rules(host, lambda h: RobotsRules(state="allow_all"))
    calls = []
    cache.rules("h1", lambda h: calls.append(h) or RobotsRules(state="allow_all"))
    assert calls == ["h1"]  # evicted, fetched again


def test_a_failing_fetch_function_means_no_rules():
    def broken(host):
        raise RuntimeError("bug")

    assert RobotsCache().rules("h", broken).state == "allow_all"


def test_cached_rules_expire():
    cache = RobotsCache(max_age_s=0.05)
    calls = []

    def fetch(host):
        calls.append(host)
        return RobotsRules(state="allow_all")

    cache.rules("h", fetch)
    cache.rules("h", fetch)
    time.sleep(0.06)
    cache.rules("h", fetch)
    assert calls == ["h", "h"]


def test_an_unreachable_robots_txt_names_its_cause():
    own = rules_from_fetch(None, None, "dns", "could not resolve host a")
    assert verdict(own, "http://a/x", "hashwatch", False).error_message == "could not resolve host a"
    slow = rules_from_fetch(None, None, "timeout", "a sent nothing within the read timeout")
    assert verdict(slow, "http://a/x", "hashwatch", False).error_message == (
        "robots.txt could not be fetched: a sent nothing within the read timeout; the URL was not requested"
    )
    elsewhere = rules_from_fetch(
        302, None, "blocked_address", "host 10.0.0.1 is a private address", redirected=True
    )
    v = verdict(elsewhere, "http://a/x", "hashwatch", False)
    assert v.error_kind == "blocked_address" and v.error_message.startswith(
        "robots.txt could not be fetched: host"
    )
