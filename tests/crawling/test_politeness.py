import threading
import time

from hashwatch.crawling.politeness import HostSlots, map_politely


def _recording_worker(log, lock, hold=0.05):
    def work(item, pacer):
        host, _ = item
        pacer(host)  # as the fetcher does before each request
        with lock:
            log.append(("start", host, time.monotonic()))
        time.sleep(hold)
        with lock:
            log.append(("end", host, time.monotonic()))
        return item

    return work


def _max_in_flight(log, host):
    current = peak = 0
    for event, h, _ in sorted(log, key=lambda e: (e[2], e[0] == "start")):
        if h != host:
            continue
        current += 1 if event == "start" else -1
        peak = max(peak, current)
    return peak


def test_delay_spaces_starts_per_host_while_hosts_run_in_parallel():
    log, lock = [], threading.Lock()
    items = [(h, (h, i)) for i in range(4) for h in ("a", "b", "c")]
    started = time.monotonic()
    results = list(
        map_politely(
            _recording_worker(log, lock, hold=0.01),
            items,
            threads=6,
            default_delay=0.15,
            concurrency=1,
            slots=HostSlots(),
        )
    )
    elapsed = time.monotonic() - started
    assert sorted(r for _, r in results) == sorted(item for _, item in items)
    for host in ("a", "b", "c"):
        starts = [t for e, h, t in log if e == "start" and h == host]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) >= 0.15 - 0.005, gaps
    # The hosts were fetched side by side: each host's first start comes before any host's last one
    # (wall-clock bounds would be flaky on a loaded machine; the order is not).
    spans = {h: [t for e, hh, t in log if e == "start" and hh == h] for h in ("a", "b", "c")}
    assert max(min(ts) for ts in spans.values()) < min(max(ts) for ts in spans.values())
    assert elapsed >= 0.15 * 3  # and none of them rushed


def test_concurrency_caps_requests_in_flight_per_host():
    log, lock = [], threading.Lock()
    items = [("one", ("one", i)) for i in range(12)]
    list(
        map_politely(
            _recording_worker(log, lock, hold=0.05),
            items,
            threads=8,
            default_delay=0.0,
            concurrency=3,
            slots=HostSlots(),
        )
    )
    assert _max_in_flight(log, "one") == 3


def test_a_slow_host_does_not_hold_up_the_others():
    log, lock = [], threading.Lock()

    def work(item, pacer):
        host, _ = item
        time.sleep(0.4 if host == "slow" else 0.0)
        with lock:
            log.append((host, time.monotonic()))

    items = [("slow", ("slow", i)) for i in range(3)] + [("fast", ("fast", i)) for i in range(20)]
    started = time.monotonic()
    list(map_politely(work, items, threads=4, default_delay=0.0, concurrency=1, slots=HostSlots()))
    fast_done = max(t for h, t in log if h == "fast")
    slow_done = max(t for h, t in log if h == "slow")
    assert fast_done < slow_done  # all 20 fast tasks finished while the slow host was still busy
    assert slow_done - started >= 3 * 0.4


def test_pacer_waits_for_later_requests_in_a_task():
    slots = HostSlots()
    times = []

    def work(item, pacer):
        for _ in range(3):  # e.g. robots.txt, then a redirect hop, then the page
            pacer("h")
            times.append(time.monotonic())

    list(map_politely(work, [("h", 1)], threads=1, default_delay=0.1, concurrency=1, slots=slots))
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.1 - 0.005 for g in gaps), gaps


def test_a_raised_exception_is_handed_back_not_lost():
    def work(item, pacer):
        if item == 2:
            raise ValueError("boom")
        return item

    results = dict(
        map_politely(
            work, [("h", 1), ("h", 2), ("h", 3)], threads=2, default_delay=0, concurrency=2, slots=HostSlots()
        )
    )
    assert results[1] == 1 and results[3] == 3 and isinstance(results[2], ValueError)


def test_host_delay_can_be_raised_by_robots():
    slots = HostSlots()
    slots.set_delay("h", 0.2)
    times = []
    list(
        map_politely(
            lambda item, pacer: (pacer("h"), times.append(time.monotonic())),
            [("h", i) for i in range(3)],
            threads=3,
            default_delay=0.0,
            concurrency=4,
            slots=slots,
        )
    )
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.2 - 0.005 for g in gaps), gaps


def test_the_host_table_forgets_idle_hosts_when_full():
    slots = HostSlots(max_hosts=3)
    now = time.monotonic()
    for host in ("a", "b", "c"):
        assert slots.try_start(host, 0.0, 1, now) == 0.0
        slots.finish(host, 0.0)
    assert slots.try_start("d", 0.0, 1, now + 1) == 0.0
    assert len(slots._next_start) <= 3  # a, b and c were idle and forgotten


def test_a_stage_arriving_for_a_known_host_waits_a_delay_again():
    """A process that fetched from a host a while ago (an earlier round) cannot see another worker's request
    of the stage just finished: when the next stage's work for the host arrives, its first start waits."""
    slots = HostSlots()
    time.sleep(slots.try_start("h", 0.2, 1, time.monotonic()))  # first contact ever: one delay
    assert slots.try_start("h", 0.2, 1, time.monotonic()) == 0.0
    slots.finish("h", 0.2)
    time.sleep(0.25)
    assert slots.try_start("h", 0.2, 1, time.monotonic()) == 0.0  # rested: free for this process
    slots.finish("h", 0.2)
    time.sleep(0.25)
    slots.arrive("h", 0.2)
    assert 0.15 < slots.try_start("h", 0.2, 1, time.monotonic()) <= 0.2
    slots.set_delay("slow", 1.5)  # a robots Crawl-delay known here wins over the default
    slots.arrive("slow", 0.2)
    assert slots.try_start("slow", 0.2, 1, time.monotonic()) > 1.4


def test_tasks_that_send_no_request_do_not_wait_a_delay_each():
    """A URL refused before any request (a blocked address, a denied host) must not cost the host's delay:
    1,000 seeds on a refused host took 1,000 s at the default 1 s delay before this rule."""
    refused = [("h", ("h", i)) for i in range(6)]
    slots = HostSlots()
    started = time.monotonic()
    list(
        map_politely(
            lambda item, pacer: item, refused, threads=2, default_delay=1.0, concurrency=1, slots=slots
        )
    )
    # One first-contact wait (1 s) for the host; then no waits. The old rule: 6 s at least.
    assert time.monotonic() - started < 3.0
    # A real request afterwards still keeps its distance from the last real one.
    log, lock = [], threading.Lock()

    def fetch(item, pacer):
        pacer("h")
        with lock:
            log.append(time.monotonic())
        return item

    list(map_politely(fetch, [("h", 1), ("h", 2)], threads=2, default_delay=0.3, concurrency=1, slots=slots))
    assert log[1] - log[0] >= 0.3 - 0.005
