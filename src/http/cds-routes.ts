import { Router } from 'express';
import type { Request, RequestHandler } from 'express';
import { cardFindings } from '../cds/cards.js';
import { discoveryDocument } from '../cds/discovery.js';
import { acceptFeedback } from '../cds/feedback.js';
import { callHook, findService } from '../cds/hook-call.js';
import { DEFAULT_INPUT_LIMITS } from '../cds/input-limits.js';
import type { HookCallDeps, HookCallResult } from '../cds/hook-call.js';
import { ServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditStore } from '../store/audit-store.js';
import type { CardAuditQueue } from '../store/card-audit-queue.js';
import { methodNotAllowed } from './error-handler.js';
import { feedbackRateLimit } from './feedback-rate-limit.js';
import { hookGate } from './hook-gate.js';
import { suppressRepeats } from '../cds/repeat-filter.js';
import { jsonBody } from './json-body.js';
import type { ServiceMetrics } from './metrics.js';
import { requestState } from './request-state.js';
import { passTraceContextOn } from './trace-context.js';
import type { HookCallTracer } from './trace-context.js';
import type { RequestState } from './request-state.js';

/** Whether the request carried a body at all (the test type-is uses). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/**
 * Queues the cards issued for the audit (ids, rule, indicator — no patient data). The audit is
 * written after the response, and a failing audit never takes the advice away from the clinician.
 */
function auditCards(result: HookCallResult, serviceId: string, state: RequestState, deps: CdsRoutesDeps): void {
  const { client, requestId } = state;
  const issuedAt = deps.now().toISOString();
  deps.audit.add(
    result.response.cards.map((card) => ({
      uuid: card.uuid,
      ruleId: card.source.topic?.code ?? 'unknown',
      indicator: card.indicator,
      // A merged card counts for every rule it carries (revision 2, item 25).
      findings: cardFindings(card).map((f) => ({ ruleId: f.rule, indicator: f.indicator })),
      serviceId,
      hookInstance: result.hookInstance,
      issuedAt,
      ...(client ? { clientIss: client.iss, ...(client.tenant ? { clientTenant: client.tenant } : {}) } : {}),
      requestId,
    })),
  );
}

/**
 * The response without the cards just shown to this user for the same facts. Cards are safety
 * information: if the store cannot be asked, nothing is suppressed.
 */
async function withoutRepeats(result: HookCallResult, deps: CdsRoutesDeps): Promise<HookCallResult['response']> {
  if (deps.repeatWindowMs === 0) return result.response;
  try {
    // What this call shows is written with the audit, off the request path (CardAuditQueue.repeatMemory).
    const { response, suppressed } = await suppressRepeats(result, result.subject, deps.audit.repeatMemory, { windowMs: deps.repeatWindowMs, now: deps.now() });
    if (suppressed.length > 0) deps.metrics?.cardsSuppressed('repeat', suppressed.length);
    return response;
  } catch (error) {
    deps.logger.error({ err: { name: (error as Error).name, message: (error as Error).message } }, 'repeat check failed; every card is shown');
    return result.response;
  }
}

export interface CdsRoutesDeps extends HookCallDeps {
  maxBodyBytes: number;
  /** Hook calls evaluated at once (CDS_MAX_CONCURRENT_HOOKS); unlimited when not given (tests). */
  maxConcurrentHooks?: number;
  /** Feedback posts per client per minute (CDS_FEEDBACK_PER_MINUTE); unlimited when not given. */
  feedbackPerMinute?: number;
  /** CDS_REPEAT_WINDOW in ms; 0 turns repeat suppression off. */
  repeatWindowMs: number;
  store: AuditStore;
  /** The card audit, written off the request path. */
  audit: CardAuditQueue;
  storeComments: boolean;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Checks the client JWT before the body is even read; discovery stays open. */
  authenticate?: RequestHandler;
  /** CDS_ALLOW_UNAUTHENTICATED: without `authenticate`, a gateway is said to authenticate callers. */
  allowUnauthenticated?: boolean;
  /** Traces hook calls; without it the caller's trace context is passed on to FHIR fetches as it came. */
  tracer?: HookCallTracer;
}

/** CDS Hooks 2.0 endpoints: discovery and one POST per service. Handlers parse, call one function, send. */
export function cdsRoutes(deps: CdsRoutesDeps): Router {
  const router = Router();
  const serviceIds = new Set(deps.catalogue.services.map((s) => s.id));
  const knownServiceId = (id: string): string | undefined => (serviceIds.has(id) ? id : undefined);
  // Computed once: the catalogue does not change while the process runs.
  const discovery = discoveryDocument(deps.catalogue, {
    authentication: deps.authenticate ? 'jwt' : deps.allowUnauthenticated ? 'gateway' : 'none',
    allowHttpFhir: deps.fhir.allowHttp,
    fhirAllowlist: deps.fhir.allowlist !== undefined,
  });
  // Any Content-Type is read as JSON: some clients omit it or send text/plain; what is not JSON gets a 400.
  const body = jsonBody(deps.maxBodyBytes, deps.limits ?? DEFAULT_INPUT_LIMITS);
  // Admission first: a waiting call holds no parsed body.
  const gate = deps.maxConcurrentHooks ? [hookGate(deps.maxConcurrentHooks)] : [];
  // After authentication, so the limit is per EHR (iss and tenant), not per proxy address.
  const feedbackLimit = deps.feedbackPerMinute ? [feedbackRateLimit(deps.feedbackPerMinute)] : [];

  router
    .route('/cds-services')
    .get((_req, res) => {
      res.json(discovery);
    })
    .all(methodNotAllowed('GET'));

  // First of a hook call's handlers: the service is known (for the log, metrics and trace) even when
  // the call is refused before its body is read (401, 413, 429).
  const startHookCall: RequestHandler = (req, res, next) => {
    const state = requestState(res);
    state.serviceId = knownServiceId(String(req.params.serviceId));
    const span = (deps.tracer ?? passTraceContextOn).start(state.traceParent, state.serviceId ?? 'unknown');
    state.span = span;
    res.on('close', () => {
      span.end(res.statusCode);
    });
    next();
  };

  router
    .route('/cds-services/:serviceId')
    .post(startHookCall, ...gate, ...(deps.authenticate ? [deps.authenticate] : []), ...body, async (req, res) => {
      const state = requestState(res);
      const startedAt = Date.now();
      // body-parser turns an empty body into {}; report it as missing rather than as three missing fields.
      const result = await callHook(req.params.serviceId, hasBody(req) ? req.body : undefined, {
        ...deps,
        ...(state.span ? { traceFetch: state.span.fetch } : {}),
      });
      state.span?.stages(result.stages, startedAt);
      state.hookInstance = result.hookInstance;
      state.hook = result.hook;
      state.ruleIds = result.ruleIds;
      state.stages = result.stages;
      if (result.ignoredConfiguration.length > 0) {
        deps.logger.info({ requestId: state.requestId, options: result.ignoredConfiguration }, 'unknown configuration options ignored');
      }
      deps.metrics?.stageTimings(result.stages);
      for (const card of result.response.cards) for (const f of cardFindings(card)) deps.metrics?.cardIssued(f.rule, f.indicator);
      const response = await withoutRepeats(result, deps);
      auditCards({ ...result, response }, req.params.serviceId, state, deps);
      // Cards carry patient data: never cache them.
      res.setHeader('Cache-Control', 'no-store');
      res.json(response);
    })
    .all(methodNotAllowed('POST'));

  // CDS Hooks 2.0 §Feedback: authenticated like hook calls (aud = this URL), stored before the 200.
  router
    .route('/cds-services/:serviceId/feedback')
    .post(...(deps.authenticate ? [deps.authenticate] : []), ...feedbackLimit, ...body, async (req, res) => {
      const state = requestState(res);
      state.serviceId = knownServiceId(req.params.serviceId);
      findService(deps.catalogue, req.params.serviceId);
      // This replica's cards first, so that feedback on a card just issued finds it.
      await deps.audit.flush();
      const { stored, outcomes } = await acceptFeedback(req.params.serviceId, hasBody(req) ? req.body : undefined, state.client, {
        store: deps.store,
        storeComments: deps.storeComments,
        now: deps.now,
      }).catch((error: unknown) => {
        if (error instanceof ServiceError && error.code === 'ERR_STORE_UNAVAILABLE') deps.metrics?.auditFailed('feedback_write');
        throw error;
      });
      for (const outcome of outcomes) deps.metrics?.feedbackReceived(outcome);
      res.json(stored);
    })
    .all(methodNotAllowed('POST'));

  return router;
}
