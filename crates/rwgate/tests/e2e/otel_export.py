"""Exports one batch of metrics with the OpenTelemetry Python SDK and its OTLP/HTTP
exporter (protobuf): a counter, a gauge, an explicit-bucket histogram and an
exponential histogram, under a resource with service and pod attributes.

Usage: otel_export.py ENDPOINT TENANT. Exits 0 only when the export succeeded."""

import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

endpoint, tenant = sys.argv[1], sys.argv[2]


class Checked(OTLPMetricExporter):
    """Remembers whether every export succeeded: the reader itself only logs."""

    ok = True

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        Checked.ok = Checked.ok and result == MetricExportResult.SUCCESS
        return result


exporter = Checked(endpoint=endpoint, headers={"THANOS-TENANT": tenant})
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
resource = Resource.create(
    {
        "service.name": "checkout",
        "service.namespace": "shop",
        "service.instance.id": "pod-1",
        "k8s.pod.name": "checkout-7d9",
    }
)
views = [
    View(instrument_name="request.latency", aggregation=ExplicitBucketHistogramAggregation([0.1, 1.0])),
    View(instrument_name="request.size", aggregation=ExponentialBucketHistogramAggregation()),
]
provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
meter = provider.get_meter("rwgate-e2e")

requests = meter.create_counter("http.requests", unit="{request}")
requests.add(5, {"http.route": "/a"})
requests.add(2, {"http.route": "/b"})
queue = meter.create_gauge("queue.size", unit="By")
queue.set(42, {"queue": "q1"})
latency = meter.create_histogram("request.latency", unit="s")
size = meter.create_histogram("request.size", unit="By")
for v in (0.05, 0.5, 2.0):
    latency.record(v)
for v in (100, 1000, 10000):
    size.record(v)

provider.force_flush(10_000)
provider.shutdown()
sys.exit(0 if Checked.ok else 1)
