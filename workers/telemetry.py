"""OpenTelemetry set-up, once per process, chosen by settings."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from workers.settings import Settings


def configure_tracing(settings: Settings, process: str) -> TracerProvider | None:
    """Install a tracer provider for this process; spans go where settings say.

    Every httpx client in the process (the connectors) is instrumented too, so each CRM
    and ERP call is a span under the activity that made it and carries ``traceparent``.
    With no exporter nothing is installed: OpenTelemetry's no-op default then costs the
    hot paths nothing, instead of building spans only to drop them.
    """
    if settings.otel_exporter == "none":
        return None
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.service_name, "syncline.process": process})
    )
    exporter: SpanExporter
    if settings.otel_exporter == "console":
        exporter = ConsoleSpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = (
            OTLPSpanExporter(endpoint=settings.otel_endpoint)
            if settings.otel_endpoint
            else OTLPSpanExporter()
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider


def instrument_api(app: FastAPI, provider: TracerProvider) -> None:
    """A server span per request; a webhook's is the parent of the inbox relay's span
    for its delivery, which is the parent of the Temporal spans the relay starts.

    Health checks are left out: they are polled, and say nothing about a deal.
    """
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz")
    app.state.inbox_relay.tracer = provider.get_tracer("syncline.inbox")
