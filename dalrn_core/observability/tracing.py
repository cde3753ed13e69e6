"""OpenTelemetry traces: one per dispute, from the gateway's request into its flow run's tasks.

`configure_tracing(service)` installs this process's tracer provider once. Sampling follows
OpenTelemetry's own variables (``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``; the
default samples every trace, or follows the parent's decision); spans are exported over
OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is set, and not
at all otherwise: trace ids still exist, so a dispute's status can name its trace.

W3C trace context crosses process boundaries as a `traceparent` carrier: `inject_context`
writes the current one into a dict (a queue message, a flow run's labels), `extract_context`
reads it back. Prefect starts a flow run's span under the context in the run's
``__OTEL_TRACEPARENT`` label and each task's span under the flow's, so `flow_run_labels`
given to the run at creation joins the flow run to the request that created it.
"""

from __future__ import annotations

import os
import threading

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# Prefect's flow engine reads a run's parent trace context from this label.
PREFECT_TRACEPARENT_LABEL = "__OTEL_TRACEPARENT"
TRACEPARENT = "traceparent"

_lock = threading.Lock()


def configure_tracing(service_name: str, *, processors: tuple[SpanProcessor, ...] = ()) -> TracerProvider:
    """This process's SDK tracer provider, installed on first call; `processors` are added to it.

    A later call (a second app in one process, a test adding its in-memory exporter) keeps
    the provider and only adds its processors, since OpenTelemetry allows one per process.
    """
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            name = os.environ.get("OTEL_SERVICE_NAME") or service_name
            provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))  # sampler: OTEL_TRACES_SAMPLER
            if any(os.environ.get(env) for env in ENDPOINT_ENVS):
                provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
            trace.set_tracer_provider(provider)
        for processor in processors:
            provider.add_span_processor(processor)
        return provider


def _otlp_exporter() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from the OTEL_EXPORTER_OTLP_* variables


def inject_context(context: Context | None = None) -> dict[str, str]:
    """The current (or given) trace context as W3C headers: ``{"traceparent": ...}`` (empty if none)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(carrier: dict[str, str] | None) -> Context:
    """The trace context a carrier from `inject_context` holds (an empty context for none)."""
    return propagate.extract(dict(carrier or {}))


def flow_run_labels(context: Context | None = None) -> dict[str, str]:
    """Labels for a new flow run so that Prefect starts its span as a child of this context."""
    traceparent = inject_context(context).get(TRACEPARENT)
    return {PREFECT_TRACEPARENT_LABEL: traceparent} if traceparent else {}


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a W3C traceparent (``00-<trace id>-<span id>-<flags>``)."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1]
    return None


def current_trace_id() -> str | None:
    """The trace id of the current span, or None outside any (or with tracing not configured)."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def tracer() -> trace.Tracer:
    return trace.get_tracer("dalrn")
