"""The service's Prometheus metrics: requests by route and status, latency, batch sizes, model versions.

Each app has its own ``CollectorRegistry``, so several apps (tests, reloads) never share counters.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "idsight_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "idsight_request_seconds", "Request latency by route", ["route"], buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self._batch = Histogram(
            "idsight_batch_size",
            "Items per predicted batch",
            ["job"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._model = Gauge(
            "idsight_model_info", "The model version serving each job (1)", ["job", "model", "sha256"],
            registry=self.registry,
        )  # fmt: skip

    def request(self, route: str, status: int, seconds: float) -> None:
        self._requests.labels(route, str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def batch(self, job: str, size: int) -> None:
        self._batch.labels(job).observe(size)

    def models(self, versions: dict[str, dict[str, str]]) -> None:
        self._model.clear()
        for job, v in versions.items():
            self._model.labels(job, v["model"], v["sha256"][:16]).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
