"""Dropping URLs seen recently, across windows, with bounded memory: keyed state and an expiry timer.

Beam state is scoped to a key *and a window*, so a dedupe that must remember URLs from earlier windows runs in
the global window: :class:`DropRecentlySeen` re-windows its input into the global window, keeps one small
state cell per URL (the time it was first seen) and sets an event-time timer at ``first seen + ttl`` that
clears it, then puts the survivors back into the stream's windows. Memory is one entry per distinct URL seen
in the last ``ttl`` seconds.

Why event time: a timer holds the stage's output watermark at its hold time. Python SDK processing-time
timers hold it at the timestamp of the element that set them, which would stall every window downstream for
``ttl``; an event-time timer's hold is its firing time, which lies ahead of the watermark and never holds
it back.

In: ``PCollection[tuple[str, tuple[str, Any]]]``: ``(url, ("check", payload))`` or ``(url, ("mark", None))``.
A mark records the URL as seen (from an earlier stage) and emits nothing. A check emits ``payload`` if the URL
was not seen within ``ttl``, else is dropped and counted (``UrlDedupe/recently_seen``).

Type hints are evaluated (no ``from __future__ import annotations``): Beam reads ``process`` and ``expand``'s.
"""

from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate, window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration

__all__ = ["CHECK", "MARK", "DropRecentlySeen"]

CHECK = "check"
MARK = "mark"
_NAMESPACE = "UrlDedupe"


_FIRST_SEEN = userstate.ReadModifyWriteStateSpec("first_seen_us", VarIntCoder())
_EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)
_FIRST_SEEN_PARAM = beam.DoFn.StateParam(_FIRST_SEEN)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)


class _RecentlySeenFn(beam.DoFn):
    def __init__(self, ttl_s: float, namespace: str):
        self._ttl = Duration.of(ttl_s)
        self._namespace = namespace

    def setup(self):
        self._first = Metrics.counter(self._namespace, "first_seen")
        self._again = Metrics.counter(self._namespace, "recently_seen")
        self._marks = Metrics.counter(self._namespace, "marked")
        self._expired = Metrics.counter(self._namespace, "expired")

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        first_seen=_FIRST_SEEN_PARAM,
        expiry=_EXPIRY_PARAM,
    ):
        _, (flag, payload) = element
        if first_seen.read() is not None:
            if flag == CHECK:
                self._again.inc()
            return
        first_seen.write(timestamp.micros)
        expiry.set(timestamp + self._ttl)
        if flag == MARK:
            self._marks.inc()
            return
        self._first.inc()
        yield payload

    @userstate.on_timer(_EXPIRY)
    def expire(self, first_seen=_FIRST_SEEN_PARAM):
        self._expired.inc()
        first_seen.clear()


class DropRecentlySeen(beam.PTransform):
    """Pass each URL's check payload through once per ``ttl_s`` seconds (see the module docstring).

    ``rewindow`` re-applies the stream's windowing afterwards (a ``WindowInto`` factory). Example::

        fresh = (
            links | "KeyByUrl" >> beam.Map(lambda link: (link.url, (CHECK, link)))
            | "Dedupe" >> DropRecentlySeen(24 * 3600, lambda: beam.WindowInto(FixedWindows(60)))
        )
    """

    def __init__(self, ttl_s: float, rewindow: Callable[[], beam.PTransform], namespace: str = _NAMESPACE):
        super().__init__()
        if ttl_s <= 0:
            raise ValueError("the dedupe TTL must be positive")
        self._ttl_s = ttl_s
        self._rewindow = rewindow
        self._namespace = namespace

    def expand(self, keyed: beam.PCollection[tuple[str, tuple[str, Any]]]) -> beam.PCollection:
        return (
            keyed
            | "GlobalWindow" >> beam.WindowInto(window.GlobalWindows())
            | "FirstSighting"
            >> beam.ParDo(_RecentlySeenFn(self._ttl_s, self._namespace)).with_input_types(
                tuple[str, tuple[str, Any]]
            )
            | "Rewindow" >> self._rewindow()
        )
