"""Metrics out of a process: OpenTelemetry's SDK, read by Prometheus at ``/metrics`` and,
when configured, pushed by OTLP; Temporal's own metrics bridged into the same export.

One scrape per process shows everything: the connectors' calls, the activities, the
ingress, and the Temporal SDK's worker metrics (task slots, poll and schedule-to-start
latencies, workflow completions) together with the counters workflows record through
Temporal's replay-safe meter (duplicate deliveries). The SDK keeps its metrics in a
buffer; a task drains it into OpenTelemetry instruments of the same names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from prometheus_client import REGISTRY, start_http_server
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

from telemetry.metrics import SECONDS_BUCKETS
from workers.settings import Settings

log = logging.getLogger(__name__)

_provider: MeterProvider | None = None


def configure_metrics(settings: Settings, process: str) -> MeterProvider | None:
    """Install this process's meter provider (once), or nothing when metrics are off:
    the global no-op meter then makes every recording free."""
    global _provider
    if not settings.metrics or _provider is not None:
        return _provider
    readers: list[MetricReader] = [PrometheusMetricReader()]
    if settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        endpoint = _metrics_endpoint(settings.otel_endpoint)
        exporter = OTLPMetricExporter(endpoint=endpoint) if endpoint else OTLPMetricExporter()
        readers.append(PeriodicExportingMetricReader(exporter))
    _provider = MeterProvider(
        resource=Resource.create(
            {SERVICE_NAME: settings.service_name, "syncline.process": process}
        ),
        metric_readers=readers,
    )
    metrics.set_meter_provider(_provider)
    return _provider


def _metrics_endpoint(traces_endpoint: str | None) -> str | None:
    """``SYNCLINE_OTEL_ENDPOINT`` names the traces URL (``…/v1/traces``); metrics go
    next to it (``…/v1/metrics``)."""
    if not traces_endpoint:
        return None
    base = traces_endpoint.split("/v1/", 1)[0]
    return f"{base.rstrip('/')}/v1/metrics"


def serve_metrics(settings: Settings) -> None:
    """The worker's scrape endpoint (the API serves ``/metrics`` in its own app)."""
    start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    log.info(
        "metrics at http://%s:%s/metrics",
        settings.worker_metrics_host,
        settings.worker_metrics_port,
    )


def prometheus_text() -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY)


class TemporalMetrics:
    """The Temporal SDK's metrics, through a buffer, into OpenTelemetry."""

    def __init__(self) -> None:
        self._buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self._buffer))
        self._meter = metrics.get_meter("temporalio")
        self._instruments: dict[int, Any] = {}

    def drain(self) -> None:
        for update in self._buffer.retrieve_updates():
            metric = update.metric
            attributes: Mapping[str, Any] = update.attributes
            instrument = self._instruments.get(id(metric))
            if instrument is None:
                instrument = self._instruments[id(metric)] = self._instrument_for(metric)
            if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
                instrument.add(update.value, attributes)
            elif metric.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
                instrument.record(update.value, attributes)
            else:
                instrument.set(update.value, attributes)

    def _instrument_for(self, metric: Any) -> Any:
        # The SDK reports durations in seconds here (the buffer's format).
        unit, description = metric.unit or "", metric.description or ""
        if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
            return self._meter.create_counter(metric.name, unit, description)
        if metric.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
            return self._meter.create_histogram(
                metric.name, unit, description, explicit_bucket_boundaries_advisory=SECONDS_BUCKETS
            )
        return self._meter.create_gauge(metric.name, unit, description)

    @contextlib.asynccontextmanager
    async def draining(self, every: float = 0.5) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                self.drain()
                await asyncio.sleep(every)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.drain()
