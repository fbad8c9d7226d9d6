"""The run report's Beam counters and distributions: the pipeline's own, summed over steps, on every runner."""

from __future__ import annotations

from apache_beam.metrics.cells import DistributionData, DistributionResult
from apache_beam.metrics.execution import MetricKey, MetricResult
from apache_beam.metrics.metricbase import MetricName

from pipelines.run_report import _beam_counters, _beam_distributions


class _FakeResult:
    """What ``PipelineResult.metrics().query()`` gives, for counters only."""

    def __init__(self, counters, distributions=()):
        self._counters = counters
        self._distributions = list(distributions)

    def metrics(self):
        return self

    def query(self, _filter):
        return {"counters": self._counters, "distributions": self._distributions}


def _counter(step: str, namespace: str, name: str, committed, attempted=None) -> MetricResult:
    return MetricResult(MetricKey(step, MetricName(namespace, name)), committed, attempted)


def test_user_counters_are_summed_over_steps():
    result = _FakeResult(
        [
            _counter("Round0/FetchPages", "hashwatch.CrawlRounds", "page_ok", 3),
            _counter("Round1/FetchPages", "hashwatch.CrawlRounds", "page_ok", 2),
            _counter("Match", "MatchKnownHashes", "index_loads", None, attempted=2),
        ]
    )
    assert _beam_counters(result) == {"MatchKnownHashes.index_loads": 2, "hashwatch.CrawlRounds.page_ok": 5}


def test_beam_system_metrics_of_portable_runners_are_left_out():
    # What the Flink runner reports besides the user counters (parse_namespace_and_name of a system urn).
    result = _FakeResult(
        [
            _counter("Match", "beam", "metric:element_count:v1", 7),
            _counter("Match", "beam", "metric:pardo_execution_time:process_bundle_msecs:v1", 365),
            _counter("Match", "MatchKnownHashes", "match_rows", 63),
        ]
    )
    assert _beam_counters(result) == {"MatchKnownHashes.match_rows": 63}


def test_a_runner_without_metrics_gives_none():
    class _NoMetrics:
        def metrics(self):
            raise NotImplementedError

    assert _beam_counters(_NoMetrics()) == {}


def _distribution(step: str, namespace: str, name: str, values: list[int]) -> MetricResult:
    data = DistributionResult(DistributionData(sum(values), len(values), min(values), max(values)))
    return MetricResult(MetricKey(step, MetricName(namespace, name)), data, data)


def test_distributions_are_merged_over_steps_without_beams_own():
    result = _FakeResult(
        [],
        [
            _distribution("Round0/FetchPages", "HashImages", "hash_ms", [4, 10]),
            _distribution("FetchImages/Fetch", "HashImages", "hash_ms", [2, 30, 6]),
            _distribution("Match", "beam", "metric:sampled_byte_size:v1", [100]),
        ],
    )
    assert _beam_distributions(result) == {
        "HashImages.hash_ms": {"count": 5, "sum": 52, "min": 2, "max": 30, "mean": 10.4}
    }
