import type { StageTimings } from '../cds/hook-call.js';
import type { FetchSpan } from '../fhir/fhir-client.js';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): an incoming `traceparent` is accepted
 * when well formed and carried to the FHIR fetches a hook call makes, so the EHR's trace continues
 * through this service into its own FHIR server. With OpenTelemetry on (otel-tracing.ts) the service
 * records spans of its own; without it, it passes the header on unchanged, as a hop that records
 * nothing should.
 */

export interface TraceParent {
  /** The header as received (lower-case hex), to pass on. */
  header: string;
  traceId: string;
  parentId: string;
  flags: string;
  /** `tracestate`, when sent and of a sane size. */
  state?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const MAX_TRACESTATE = 512;

/** A well-formed `traceparent` (version 00, or a later one read as 00 says), else undefined. */
export function parseTraceparent(header: unknown, state?: unknown): TraceParent | undefined {
  if (typeof header !== 'string' || header.length > 256) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version = '', traceId = '', parentId = '', flags = '', rest] = match;
  // ff is forbidden; version 00 has nothing after the flags; all-zero ids are invalid.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  const traceState = typeof state === 'string' && state.length <= MAX_TRACESTATE && state.trim() !== '' ? state.trim() : undefined;
  return { header: `00-${traceId}-${parentId}-${flags}`, traceId, parentId, flags, ...(traceState ? { state: traceState } : {}) };
}

/** One hook call as tracing sees it. */
export interface HookCallSpan {
  /** The trace the call belongs to, for the request log (undefined when there is none). */
  traceId?: string;
  /** A FHIR request starting: the headers it carries, and its end. */
  fetch: (resourceType: string) => FetchSpan;
  /** The stages, timed, laid end to end from `startedAt` (epoch ms). */
  stages: (timings: StageTimings, startedAt: number) => void;
  end: (status: number) => void;
}

export interface HookCallTracer {
  start: (parent: TraceParent | undefined, serviceId: string) => HookCallSpan;
}

/** Without OpenTelemetry: the incoming trace context passed on as it came, nothing recorded. */
export const passTraceContextOn: HookCallTracer = {
  start: (parent) => {
    const headers: Record<string, string> = parent ? { traceparent: parent.header, ...(parent.state ? { tracestate: parent.state } : {}) } : {};
    return {
      ...(parent ? { traceId: parent.traceId } : {}),
      fetch: () => ({ headers, end: () => undefined }),
      stages: () => undefined,
      end: () => undefined,
    };
  },
};
