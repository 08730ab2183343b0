import type { Response } from 'express';
import type { StageTimings } from '../cds/hook-call.js';
import type { HookCallSpan, TraceParent } from './trace-context.js';

/** Facts about a request that the access log records: ids and outcomes, never patient data. */
export interface RequestState {
  requestId: string;
  serviceId?: string;
  hookInstance?: string;
  hook?: string;
  /** Milliseconds per stage of a hook call, for the log line and metrics. */
  stages?: StageTimings;
  ruleIds?: string[];
  errorCode?: string;
  /** The caller's W3C trace context, when it sent a well-formed one. */
  traceParent?: TraceParent;
  /** The hook call's trace (propagated, and recorded when OpenTelemetry is on). */
  span?: HookCallSpan;
  /** The authenticated CDS client: iss, tenant and jti may be logged (CDS Hooks security best practices); the token never. */
  client?: { iss: string; jti: string; tenant?: string };
}

export function requestState(res: Response): RequestState {
  const locals = res.locals as { state?: RequestState };
  locals.state ??= { requestId: 'unknown' };
  return locals.state;
}
