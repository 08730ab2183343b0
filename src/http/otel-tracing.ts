import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace } from '@opentelemetry/api';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { StageTimings } from '../cds/hook-call.js';
import type { FetchOutcome } from '../fhir/fhir-client.js';
import type { HookCallSpan, HookCallTracer, TraceParent } from './trace-context.js';

/**
 * Optional OpenTelemetry tracing (off unless the standard OTEL_* variables ask for it; config.ts
 * decides). Spans: the hook call (server), its stages parse/data/rules/render, and each FHIR request
 * (client, its traceparent sent on). Attributes are ids and outcomes only — the service id, the
 * route, status codes, the FHIR resource type — never a patient id, a query, card text or a token.
 * The OTLP/HTTP exporter reads its own OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout).
 */

const STAGES = ['parse', 'data', 'rules', 'render'] as const;

export interface OpenTelemetryTracer extends HookCallTracer {
  /** Exports what is buffered and stops (on SIGTERM). */
  shutdown: () => Promise<void>;
}

export function openTelemetryTracer(options: { serviceName: string; version: string }): OpenTelemetryTracer {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': options.version }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
  });
  const tracer = provider.getTracer('glutamine-cds', options.version);
  const propagator = new W3CTraceContextPropagator();

  const start = (parent: TraceParent | undefined, serviceId: string): HookCallSpan => {
    const parentContext = parent
      ? propagator.extract(ROOT_CONTEXT, { traceparent: parent.header, ...(parent.state ? { tracestate: parent.state } : {}) }, defaultTextMapGetter)
      : ROOT_CONTEXT;
    const span = tracer.startSpan(
      'POST /cds-services/:serviceId',
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST', 'http.route': '/cds-services/:serviceId', 'cds.service.id': serviceId } },
      parentContext,
    );
    const callContext = trace.setSpan(parentContext, span);
    return {
      traceId: span.spanContext().traceId,
      fetch: (resourceType) => fetchSpan(tracer, propagator, callContext, resourceType),
      stages: (timings: StageTimings, startedAt: number) => {
        let at = startedAt;
        for (const stage of STAGES) {
          const child = tracer.startSpan(`hook ${stage}`, { startTime: at, attributes: { 'cds.stage': stage } }, callContext);
          at += timings[stage];
          child.end(at);
        }
      },
      end: (status) => {
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  };
  return { start, shutdown: () => provider.shutdown() };
}

function fetchSpan(tracer: Tracer, propagator: W3CTraceContextPropagator, parent: Context, resourceType: string) {
  const span: Span = tracer.startSpan(
    `FHIR GET ${resourceType}`,
    { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'fhir.resource_type': resourceType } },
    parent,
  );
  const headers: Record<string, string> = {};
  propagator.inject(trace.setSpan(parent, span), headers, defaultTextMapSetter);
  return {
    headers,
    end: (outcome: FetchOutcome, status?: number) => {
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      span.setAttribute('fhir.fetch.outcome', outcome);
      if (outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.end();
    },
  };
}
