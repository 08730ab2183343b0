import type { Request, RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import type { StageTimings } from '../cds/hook-call.js';
import type { ServiceMetrics } from './metrics.js';
import { requestState } from './request-state.js';
import { parseTraceparent } from './trace-context.js';

/**
 * An incoming X-Request-Id is kept when it is an id: up to 128 letters, digits and `._:@-` (a
 * gateway's UUID or hex id). Anything else — spaces, control characters, a paragraph — is replaced
 * by our own, so a caller cannot write into the log.
 */
const REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

function roundStages(stages: StageTimings): StageTimings {
  const round = (ms: number): number => Math.round(ms * 100) / 100;
  return { parse: round(stages.parse), data: round(stages.data), rules: round(stages.rules), render: round(stages.render) };
}

function routePattern(req: Request): string {
  // express sets req.route (typed `any`) once a route matched.
  const route: unknown = req.route;
  const path = typeof route === 'object' && route !== null && 'path' in route ? route.path : undefined;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : '(unmatched)';
}

/** One structured line per request (docs/conventions.md, convention 12), with an id echoed in X-Request-Id (the caller's, when valid). */
export function requestLog(logger: Logger, newId: () => string, metrics?: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const state = requestState(res);
    const incoming = req.get('x-request-id');
    state.requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : newId();
    res.setHeader('X-Request-Id', state.requestId);
    const traceParent = parseTraceparent(req.headers.traceparent, req.headers.tracestate);
    if (traceParent) state.traceParent = traceParent;
    res.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info(
        {
          requestId: state.requestId,
          method: req.method,
          // The route pattern, never the raw path: a misdirected call such as GET /Patient/123 must not log an id.
          route: routePattern(req),
          status: res.statusCode,
          durationMs: Math.round(durationMs * 10) / 10,
          ...(state.span?.traceId || state.traceParent ? { traceId: state.span?.traceId ?? state.traceParent?.traceId } : {}),
          ...(state.serviceId ? { serviceId: state.serviceId } : {}),
          ...(state.hookInstance ? { hookInstance: state.hookInstance } : {}),
          ...(state.ruleIds ? { ruleIds: state.ruleIds } : {}),
          ...(state.stages ? { stagesMs: roundStages(state.stages) } : {}),
          ...(state.errorCode ? { errorCode: state.errorCode } : {}),
          ...(state.client ? { client: state.client } : {}),
        },
        'request',
      );
      if (routePattern(req) === '/cds-services/:serviceId' && req.method === 'POST') metrics?.hookRequest(state.serviceId, res.statusCode, durationMs / 1000);
    });
    next();
  };
}
