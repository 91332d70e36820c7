"""The edge's ``/metrics``: counters for operators, in the Prometheus text format (0.0.4).

Written here rather than with ``prometheus_client``: that library costs about
14 MB of resident memory at import, half the budget of an idle edge, and the
edge needs only a few counters, one gauge and one histogram. No metric carries
a user or a path, so the endpoint reveals nothing about anyone's files.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

__all__ = ["EdgeMetrics"]

#: Upper bounds of the upload-latency histogram, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class EdgeMetrics:
    """Thread-safe counters of one edge process.

    :param queue_depth: returns how many uploads wait in the background.
    """

    def __init__(self, queue_depth: Callable[[], int] = lambda: 0) -> None:
        self._lock = threading.Lock()
        self._queue_depth = queue_depth
        self.requests: dict[str, int] = {}
        self.bytes_received = 0
        self.bytes_uploaded = 0
        self.bytes_saved = 0
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._upload_sum = 0.0

    def request(self, outcome: str, *, received: int = 0, saved: int = 0) -> None:
        """Count one request.

        :param outcome: ``"ok"`` or the error's wire code.
        :param received: body bytes read.
        :param saved: bytes the device did not have to send (file size minus body).
        """
        with self._lock:
            self.requests[outcome] = self.requests.get(outcome, 0) + 1
            self.bytes_received += received
            self.bytes_saved += max(0, saved)

    def upload(self, size: int, seconds: float) -> None:
        """Count one successful write to the cloud of ``size`` bytes."""
        with self._lock:
            self.bytes_uploaded += size
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._upload_sum += seconds

    def render(self) -> str:
        """The exposition text (``Content-Type: text/plain; version=0.0.4``)."""
        with self._lock:
            lines = [
                "# HELP edgesync_requests_total Requests handled, by outcome (ok or error code).",
                "# TYPE edgesync_requests_total counter",
                *(f'edgesync_requests_total{{outcome="{outcome}"}} {count}'
                  for outcome, count in sorted(self.requests.items())),
                "# HELP edgesync_bytes_received_total Request body bytes received.",
                "# TYPE edgesync_bytes_received_total counter",
                f"edgesync_bytes_received_total {self.bytes_received}",
                "# HELP edgesync_bytes_uploaded_total Bytes written to the cloud.",
                "# TYPE edgesync_bytes_uploaded_total counter",
                f"edgesync_bytes_uploaded_total {self.bytes_uploaded}",
                "# HELP edgesync_bytes_saved_total File bytes devices did not have to send.",
                "# TYPE edgesync_bytes_saved_total counter",
                f"edgesync_bytes_saved_total {self.bytes_saved}",
                "# HELP edgesync_upload_queue_depth Uploads waiting to be retried.",
                "# TYPE edgesync_upload_queue_depth gauge",
                f"edgesync_upload_queue_depth {self._queue_depth()}",
                "# HELP edgesync_upload_seconds Time of each write to the cloud.",
                "# TYPE edgesync_upload_seconds histogram",
            ]
            total = 0
            for bound, count in zip((*BUCKETS, float("inf")), self._buckets):
                total += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'edgesync_upload_seconds_bucket{{le="{le}"}} {total}')
            lines += [f"edgesync_upload_seconds_sum {self._upload_sum}",
                      f"edgesync_upload_seconds_count {total}"]
        return "\n".join(lines) + "\n"
