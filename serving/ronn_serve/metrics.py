"""Prometheus metrics of one server, in a registry of its own (scraped at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the server)

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServeMetrics:
    """Requests, latency, batch sizes, queue depth and errors, labelled by model."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ronn_serve_requests", "Inference requests by model and HTTP code",
                                ["model", "code"], registry=r)
        self.latency = Histogram("ronn_serve_request_latency_seconds",
                                 "Inference request latency (receipt to response)", ["model"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("ronn_serve_batch_size", "Rows per run of the model",
                                    ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("ronn_serve_queue_depth", "Requests waiting for a batch",
                                 ["model"], registry=r)
        self.errors = Counter("ronn_serve_errors", "Failed inference requests by kind",
                              ["model", "kind"], registry=r)
        self.inflight = Gauge("ronn_serve_inflight_requests", "Inference requests being served",
                              registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
