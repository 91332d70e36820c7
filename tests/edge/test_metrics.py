"""EdgeMetrics: valid Prometheus text exposition (0.0.4), counters that add up, a sound histogram.

The text is checked by a small parser written here to the format's rules
(prometheus_client is not a dependency of edgesync).
"""

from __future__ import annotations

import math
import re
import threading

import attrs
import pytest

from edgesync.edge.metrics import BUCKETS, EdgeMetrics

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(rf"({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?,?\}})? (\S+)")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@attrs.frozen
class Family:
    name: str
    type: str
    help: str
    samples: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...]

    def value(self, name: str | None = None, **labels: str) -> float:
        """The one sample called ``name`` (default: the family's) with exactly these labels."""
        wanted = (name or self.name, tuple(sorted(labels.items())))
        found = [value for sample, sample_labels, value in self.samples
                 if (sample, tuple(sorted(sample_labels))) == wanted]
        assert len(found) == 1, (wanted, self.samples)
        return found[0]


def parse(text: str) -> dict[str, Family]:
    """Parse exposition text, failing the test on anything the format does not allow."""
    assert text.endswith("\n"), "the last line must end with a newline"
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: dict[str, list] = {}
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, doc = line[len("# HELP "):].partition(" ")
            assert re.fullmatch(_NAME, name) and name not in helps, line
            assert name not in samples, f"HELP after the samples of {name}"
            helps[name] = doc
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE "):].partition(" ")
            assert re.fullmatch(_NAME, name) and name not in types, line
            assert kind in _TYPES, line
            assert name not in samples, f"TYPE after the samples of {name}"
            types[name] = kind
        elif line.startswith("#") or not line:
            raise AssertionError(f"unexpected line {line!r}")
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            name, label_text, value = match.group(1), match.group(2), match.group(match.lastindex)
            labels = tuple(re.findall(_LABEL, label_text or ""))
            assert len({key for key, _ in labels}) == len(labels), f"repeated label: {line}"
            family = name
            if name not in types:
                family = re.sub(r"_(bucket|sum|count)$", "", name)
                assert types.get(family) == "histogram", f"{name} has no TYPE line before it"
            assert value in ("+Inf", "-Inf", "NaN") or re.fullmatch(
                r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value), f"bad value in {line!r}"
            samples.setdefault(family, []).append((name, labels, float(value)))
    return {name: Family(name, types[name], helps.get(name, ""), tuple(samples.get(name, ())))
            for name in types}


def histogram(family: Family) -> tuple[list[tuple[float, float]], float, float]:
    """(upper bound, cumulative count) pairs, the sum and the count of a histogram."""
    assert family.type == "histogram"
    buckets = [(float(dict(labels)["le"]), value) for name, labels, value in family.samples
               if name == f"{family.name}_bucket"]
    return buckets, family.value(f"{family.name}_sum"), family.value(f"{family.name}_count")


@pytest.fixture
def metrics() -> EdgeMetrics:
    return EdgeMetrics()


def test_fresh_metrics_are_valid_and_zero(metrics):
    families = parse(metrics.render())
    assert {name: family.type for name, family in families.items()} == {
        "edgesync_requests_total": "counter",
        "edgesync_bytes_received_total": "counter",
        "edgesync_bytes_uploaded_total": "counter",
        "edgesync_bytes_saved_total": "counter",
        "edgesync_upload_queue_depth": "gauge",
        "edgesync_upload_seconds": "histogram",
    }
    assert all(family.help for family in families.values())
    assert families["edgesync_requests_total"].samples == ()
    for name in ("bytes_received_total", "bytes_uploaded_total", "bytes_saved_total",
                 "upload_queue_depth"):
        assert families[f"edgesync_{name}"].value() == 0
    buckets, total, count = histogram(families["edgesync_upload_seconds"])
    assert [bound for bound, _ in buckets] == [*BUCKETS, math.inf]
    assert all(value == 0 for _, value in buckets) and total == 0 and count == 0


def test_requests_are_counted_by_outcome(metrics):
    for outcome in ("ok", "ok", "base_mismatch", "ok", "unauthorized", "base_mismatch"):
        metrics.request(outcome)
    requests = parse(metrics.render())["edgesync_requests_total"]
    assert requests.value(outcome="ok") == 3
    assert requests.value(outcome="base_mismatch") == 2
    assert requests.value(outcome="unauthorized") == 1
    assert len(requests.samples) == 3


def test_bytes_received_and_saved_add_up(metrics):
    metrics.request("ok", received=100, saved=900)
    metrics.request("ok", received=50, saved=-20)  # a delta bigger than the file saves nothing
    metrics.request("wire_format_error", received=7)
    families = parse(metrics.render())
    assert families["edgesync_bytes_received_total"].value() == 157
    assert families["edgesync_bytes_saved_total"].value() == 900
    assert (metrics.bytes_received, metrics.bytes_saved) == (157, 900)


def test_uploads_fill_a_cumulative_histogram(metrics):
    seconds = [0.001, 0.005, 0.0051, 0.3, 0.3, 2.0, 59.0, 61.0, 3600.0]
    for value in seconds:
        metrics.upload(1000, value)
    families = parse(metrics.render())
    assert families["edgesync_bytes_uploaded_total"].value() == 9000
    buckets, total, count = histogram(families["edgesync_upload_seconds"])
    assert count == len(seconds)
    assert total == pytest.approx(sum(seconds))
    for bound, cumulative in buckets:  # le is "less than or equal"
        assert cumulative == sum(1 for value in seconds if value <= bound), bound
    counts = [cumulative for _, cumulative in buckets]
    assert counts == sorted(counts)  # never decreasing
    assert buckets[-1] == (math.inf, count)  # +Inf equals the count


def test_the_queue_depth_is_read_at_each_render():
    depth = iter([0, 5, 2])
    metrics = EdgeMetrics(queue_depth=lambda: next(depth))
    assert [parse(metrics.render())["edgesync_upload_queue_depth"].value()
            for _ in range(3)] == [0, 5, 2]


def test_counts_from_many_threads_add_up(metrics):
    threads, rounds = 8, 500
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(rounds):
            metrics.request("ok", received=3, saved=5)
            metrics.upload(2, 0.01)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    families = parse(metrics.render())
    total = threads * rounds
    assert families["edgesync_requests_total"].value(outcome="ok") == total
    assert families["edgesync_bytes_received_total"].value() == 3 * total
    assert families["edgesync_bytes_saved_total"].value() == 5 * total
    assert families["edgesync_bytes_uploaded_total"].value() == 2 * total
    assert histogram(families["edgesync_upload_seconds"])[2] == total


# --- the parser itself refuses what the format forbids --------------------------------------


@pytest.mark.parametrize("text", [
    "a_total 1",                                            # no final newline
    "a_total 1\n",                                          # no TYPE
    "# TYPE a_total counter\na_total one\n",                # not a number
    "# TYPE a_total counter\na_total{x=\"1\",x=\"2\"} 1\n",  # repeated label
    "# TYPE a_total counter\na_total{x=1} 1\n",             # unquoted label value
    "# TYPE a_total counter\n# TYPE a_total counter\n",     # TYPE twice
    "# TYPE a_total counter\na_total 1\n# HELP a_total late\n",
    "# TYPE a_total countr\n",                              # unknown type
    "# TYPE 1a counter\n",                                  # bad name
    "# TYPE a_total counter\n\na_total 1\n",                # empty line
])
def test_the_parser_refuses_invalid_text(text):
    with pytest.raises(AssertionError):
        parse(text)
