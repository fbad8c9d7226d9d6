"""Per-host politeness: at most N requests in flight per host, and a rest of at least D seconds between them.

Two pieces:

* :class:`HostSlots`, the per-host state (requests in flight, earliest next start, delay). The delay runs from
  the end of one request to the start of the next (as in Nutch), so network jitter cannot shrink the rest a
  server gets. One table per process, shared by every worker, DoFn instance and crawl round in it.
* :class:`HostScheduler`, a work queue that hands a task to a fetch thread only when its host has a free slot
  and its delay has passed. Threads never sit blocked on a busy host while other hosts wait: a worker with
  many hosts fetches them concurrently, a worker with one host fetches it at the host's pace.

A task that makes several requests (robots.txt then the page, redirect hops, retries) calls
:meth:`HostSlots.pace` before each one after the first, which waits a full delay. Across processes (Beam
workers) politeness holds because the Beam transforms group the work by host, so one host's tasks of a stage
are handled by one worker, and because a stage's first request to a host waits one delay from the moment the
host's work arrives (:meth:`HostSlots.arrive`), in case the stage before, on another worker, has just fetched
from it. (A process's first request to a host ever waits one delay too.)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class HostSlots:
    """Per-host concurrency and pacing state. Thread-safe. Idle hosts are forgotten once the table holds more
    than ``max_hosts`` (a forgotten host is treated as first contact again: it waits one delay)."""

    def __init__(self, max_hosts: int = 100_000) -> None:
        self._max_hosts = max_hosts
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._next_start: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._delay: dict[str, float] = {}

    def set_delay(self, host: str, delay: float) -> None:
        """Set a host's delay (e.g. from robots.txt Crawl-delay); it applies from the last start on."""
        with self._lock:
            self._delay[host] = delay
            if host in self._last_start:
                self._next_start[host] = max(self._next_start.get(host, 0.0), self._last_start[host] + delay)

    def delay(self, host: str, default: float) -> float:
        with self._lock:
            return self._delay.get(host, default)

    def try_start(self, host: str, default_delay: float, concurrency: int, now: float) -> float:
        """Reserve a slot and a start time for ``host`` if both are free now: returns 0.0.

        Otherwise returns how long to wait before trying again (``inf`` when only a slot release can help).
        """
        with self._lock:
            if self._active.get(host, 0) >= concurrency:
                return float("inf")
            if host not in self._next_start:
                if len(self._next_start) >= self._max_hosts:
                    self._forget_idle(now)
                # First contact in this process: another process (an earlier stage on another worker) may just
                # have fetched from this host, so assume it did and wait one delay.
                self._next_start[host] = now + self._delay.get(host, default_delay)
            wait = self._next_start[host] - now
            if wait > 0:
                return wait
            self._active[host] = self._active.get(host, 0) + 1
            self._last_start[host] = now
            self._next_start[host] = now + self._delay.get(host, default_delay)
            return 0.0

    def arrive(self, host: str, default_delay: float) -> None:
        """A stage's work for ``host`` has arrived: its first request waits a full delay from now. The stage
        before ran to its end before this one started (a GroupByKey is between them), possibly on another
        worker whose last request to the host this process cannot see."""
        with self._lock:
            now = time.monotonic()
            if host not in self._next_start and len(self._next_start) >= self._max_hosts:
                self._forget_idle(now)
            delay = self._delay.get(host, default_delay)
            self._next_start[host] = max(self._next_start.get(host, 0.0), now + delay)

    def _forget_idle(self, now: float) -> None:
        """Drop the timing of hosts with nothing in flight whose delay ran out (called with the lock held).
        Delays raised by robots.txt Crawl-delay are kept."""
        for host in [h for h, t in self._next_start.items() if t < now and not self._active.get(h)]:
            self._next_start.pop(host, None)
            self._last_start.pop(host, None)

    def finish(self, host: str, default_delay: float) -> None:
        """A task's last request is done: the next one waits a full delay from now (Nutch's rule: the delay is
        the server's rest between responses, so network jitter cannot shrink it)."""
        with self._lock:
            delay = self._delay.get(host, default_delay)
            self._next_start[host] = max(self._next_start.get(host, 0.0), time.monotonic() + delay)
            count = self._active.get(host, 0) - 1
            if count > 0:
                self._active[host] = count
            else:
                self._active.pop(host, None)

    def release_unused(self, host: str, reserved_at: float, default_delay: float) -> None:
        """A task whose reservation (:meth:`try_start` at ``reserved_at``) sent no request (a URL refused
        before any request: blocked address, denied host, robots): free its slot and give the start back, so
        the host's rest since its last real request goes on. Without this, 1,000 seeds on a refused host
        took 1,000 s at the default 1 s delay, each waiting for a request that was never made."""
        with self._lock:
            delay = self._delay.get(host, default_delay)
            if self._next_start.get(host) == reserved_at + delay:  # no request of another task since
                self._next_start[host] = reserved_at
            count = self._active.get(host, 0) - 1
            if count > 0:
                self._active[host] = count
            else:
                self._active.pop(host, None)

    def pace(self, host: str, default_delay: float) -> None:
        """Block until ``host``'s next start, then take it (for a request after a task's first).

        Called right after the task's previous request finished, so it waits at least a full delay from now.
        """
        with self._lock:
            delay = self._delay.get(host, default_delay)
            self._next_start[host] = max(self._next_start.get(host, 0.0), time.monotonic() + delay)
        while True:
            with self._lock:
                now = time.monotonic()
                wait = self._next_start.get(host, 0.0) - now
                if wait <= 0:
                    self._last_start[host] = now
                    self._next_start[host] = now + self._delay.get(host, default_delay)
                    return
            time.sleep(wait)


_PROCESS_SLOTS = HostSlots()


def process_host_slots() -> HostSlots:
    """The host table shared by everything in this process."""
    return _PROCESS_SLOTS


class Pacer:
    """Handed to one task: its first request to its own host was reserved by the scheduler; every other
    request (robots, hops, retries, other hosts after a redirect) waits for its host's turn."""

    def __init__(
        self, slots: HostSlots, host: str, default_delay: float, reserved: bool, reserved_at: float = 0.0
    ) -> None:
        self._slots = slots
        self._host = host
        self._default_delay = default_delay
        self._reserved = reserved
        self.reserved_at = reserved_at

    @property
    def unused(self) -> bool:
        """True while the reserved first request has not been made."""
        return self._reserved

    def __call__(self, host: str) -> None:
        if self._reserved and host == self._host:
            self._reserved = False
            return
        self._slots.pace(host, self._default_delay)


class HostScheduler(Generic[T]):
    """A work queue of (host, item) that releases items as their host's politeness allows.

    It starts ``threads`` threads that call ``worker(item, pacer)`` and hand each result (or the exception the
    worker raised) to ``on_result(item, result)``. ``concurrency``: requests in flight per host, or a function
    of the host key (a stage with keys of both kinds: a host's pages, and its image shards of one request). Submit with :meth:`submit`; :meth:`wait_idle` waits for the
    work so far; :meth:`close` finishes the queue and stops the threads. :func:`map_politely` wraps it all.
    """

    def __init__(
        self,
        worker: Callable[[T, Pacer], object],
        *,
        threads: int,
        default_delay: float,
        concurrency: int | Callable[[str], int],
        slots: HostSlots | None = None,
        on_result: Callable[[T, object], None] | None = None,
    ) -> None:
        self._worker = worker
        self._default_delay = default_delay
        self._concurrency = concurrency
        self._slots = slots or process_host_slots()
        self._on_result = on_result
        self._cv = threading.Condition()
        # One queue per (host, lane); the ring turns over queues, the slots are the host's. Two lanes of one
        # host (a round's pages and the images they show) take turns under the host's one concurrency cap.
        self._queues: dict[tuple[str, str], deque[T]] = {}
        self._ring: deque[tuple[str, str]] = deque()
        self._pending = 0
        self._running = 0
        self._closed = False
        self._max_threads = threads
        self._threads: list[threading.Thread] = []  # started on demand, up to ``threads``

    @property
    def slots(self) -> HostSlots:
        return self._slots

    def submit(self, host: str, item: T, lane: str = "") -> None:
        """Queue ``item`` for ``host``. Items of one lane start in the order submitted; the lanes of a host
        take turns, sharing its slots (``submit(host, image_task, lane="images")`` next to its pages)."""
        with self._cv:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            queue = self._queues.get((host, lane))
            if queue is None:
                queue = self._queues[(host, lane)] = deque()
                self._ring.append((host, lane))
            queue.append(item)
            self._pending += 1
            if len(self._threads) < min(self._max_threads, self._pending + self._running):
                thread = threading.Thread(
                    target=self._loop, name=f"hashwatch-fetch-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cv.notify()

    def outstanding(self) -> int:
        """Items submitted and not finished yet."""
        with self._cv:
            return self._pending + self._running

    def wait_idle(self) -> None:
        """Block until every submitted item has finished."""
        with self._cv:
            while self._pending or self._running:
                self._cv.wait()

    def close(self) -> None:
        """Finish the queued work, then stop the threads."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join()

    def _next(self) -> tuple[str, T, float] | None:
        with self._cv:
            while True:
                if self._closed and not self._pending:
                    return None
                now = time.monotonic()
                soonest = float("inf")
                for _ in range(len(self._ring)):
                    queue_key = self._ring[0]
                    host = queue_key[0]
                    self._ring.rotate(-1)
                    cap = self._concurrency(host) if callable(self._concurrency) else self._concurrency
                    wait = self._slots.try_start(host, self._default_delay, cap, now)
                    if wait == 0.0:
                        item = self._queues[queue_key].popleft()
                        if not self._queues[queue_key]:
                            del self._queues[queue_key]
                            self._ring.remove(queue_key)
                        self._pending -= 1
                        self._running += 1
                        return host, item, now
                    soonest = min(soonest, wait)
                # Nothing ready: wait for a submit, a finish (notify) or the soonest host's delay. A slot
                # held by
                # another scheduler of this process is released without notifying us: poll for that case.
                self._cv.wait(0.05 if soonest == float("inf") else min(soonest, 5.0))

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            host, item, reserved_at = job
            pacer = Pacer(self._slots, host, self._default_delay, reserved=True, reserved_at=reserved_at)
            try:
                try:
                    result = self._worker(item, pacer)
                except Exception as exc:  # handed on: the caller turns it into an "internal" row
                    result = exc
                if self._on_result is not None:
                    self._on_result(item, result)
            finally:
                if pacer.unused:
                    self._slots.release_unused(host, reserved_at, self._default_delay)
                else:
                    self._slots.finish(host, self._default_delay)
                with self._cv:
                    self._running -= 1
                    self._cv.notify_all()


def map_politely(
    worker: Callable[[T, Pacer], object],
    items: list[tuple[str, T]],
    *,
    threads: int,
    default_delay: float,
    concurrency: int,
    slots: HostSlots | None = None,
) -> Iterator[tuple[T, object]]:
    """Run ``worker`` over (host, item) pairs politely and yield (item, result) as they finish."""
    done: deque[tuple[T, object]] = deque()
    lock = threading.Condition()

    def collect(item: T, result: object) -> None:
        with lock:
            done.append((item, result))
            lock.notify()

    scheduler = HostScheduler(
        worker,
        threads=threads,
        default_delay=default_delay,
        concurrency=concurrency,
        slots=slots,
        on_result=collect,
    )
    try:
        for host, item in items:
            scheduler.submit(host, item)
        remaining = len(items)
        while remaining:
            with lock:
                while not done:
                    lock.wait()
                batch = list(done)
                done.clear()
            remaining -= len(batch)
            yield from batch
    finally:
        scheduler.close()
