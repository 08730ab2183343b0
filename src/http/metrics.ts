import { JWT_REJECTIONS } from '../auth/verify-client-jwt.js';
import type { JwtRejection } from '../auth/verify-client-jwt.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestHandler } from 'express';
import type { StageTimings } from '../cds/hook-call.js';

/**
 * Prometheus metrics (prom-client). Labels are bounded sets — service ids from cards/, hooks, HTTP
 * statuses, stages, rule ids, indicators, outcome and reason codes — and never carry patient data.
 */

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'service' | 'hook' | 'status'>;
  private readonly stages: Histogram<'stage'>;
  private readonly cards: Counter<'rule' | 'indicator'>;
  private readonly fhirFetches: Histogram<'outcome'>;
  private readonly jwtRejections: Counter<'reason'>;
  private readonly suppressedCards: Counter<'reason'>;
  private readonly feedbackItems: Counter<'outcome'>;

  /** `services`: each service id of cards/services.json, with its hook. */
  constructor(private readonly services: ReadonlyMap<string, string>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'glutamine_cds_' });
    this.requests = new Counter({
      name: 'glutamine_cds_hook_requests_total',
      help: 'Hook calls by service, hook and HTTP status',
      labelNames: ['service', 'hook', 'status'],
      registers,
    });
    this.stages = new Histogram({
      name: 'glutamine_cds_hook_stage_seconds',
      help: 'Time spent per stage of a hook call: parse (envelope and orders), data (prefetch and FHIR fetches), rules, render (cards)',
      labelNames: ['stage'],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.cards = new Counter({
      name: 'glutamine_cds_cards_total',
      help: 'Cards issued by rule id and indicator',
      labelNames: ['rule', 'indicator'],
      registers,
    });
    this.fhirFetches = new Histogram({
      name: 'glutamine_cds_fhir_fetch_seconds',
      help: 'Requests to EHR FHIR servers by outcome (ok, http_error, timeout, unreachable, refused, invalid)',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    });
    this.jwtRejections = new Counter({
      name: 'glutamine_cds_jwt_rejections_total',
      help: 'Client JWTs rejected, by reason',
      labelNames: ['reason'],
      registers,
    });
    // Every reason from the start, at zero: a dashboard sees the label set before the first rejection.
    for (const reason of JWT_REJECTIONS) this.jwtRejections.inc({ reason }, 0);
    this.suppressedCards = new Counter({
      name: 'glutamine_cds_cards_suppressed_total',
      help: 'Cards left out of responses: repeats of what was just shown, or beyond max-cards',
      labelNames: ['reason'],
      registers,
    });
    this.feedbackItems = new Counter({
      name: 'glutamine_cds_feedback_items_total',
      help: 'Feedback items received, by outcome',
      labelNames: ['outcome'],
      registers,
    });
  }

  hookRequest(serviceId: string | undefined, status: number): void {
    // An arbitrary id in the URL must not create a new time series. The hook is the service's own, so
    // a call refused before its body was read (400, 412) is still counted under its hook.
    const hook = serviceId === undefined ? undefined : this.services.get(serviceId);
    this.requests.inc({ service: hook === undefined ? 'unknown' : (serviceId ?? 'unknown'), hook: hook ?? 'unknown', status: String(status) });
  }

  stageTimings(timings: StageTimings): void {
    for (const [stage, ms] of Object.entries(timings)) this.stages.observe({ stage }, ms / 1000);
  }

  cardIssued(ruleId: string, indicator: string): void {
    this.cards.inc({ rule: ruleId, indicator });
  }

  fhirFetch(seconds: number, outcome: string): void {
    this.fhirFetches.observe({ outcome }, seconds);
  }

  /** glutamine_cds_audit_queue_depth: card audit rows waiting to be written (they pile up while the database is away). */
  watchAuditQueue(depth: () => number): void {
    new Gauge({
      name: 'glutamine_cds_audit_queue_depth',
      help: 'Card audit rows waiting to be written to the audit database',
      registers: [this.registry],
      collect() {
        this.set(depth());
      },
    });
  }

  cardsSuppressed(reason: 'repeat' | 'max-cards', count: number): void {
    this.suppressedCards.inc({ reason }, count);
  }

  jwtRejected(reason: JwtRejection): void {
    this.jwtRejections.inc({ reason });
  }

  feedbackReceived(outcome: string, count = 1): void {
    this.feedbackItems.inc({ outcome }, count);
  }
}

export function metricsRoute(metrics: ServiceMetrics): RequestHandler {
  return async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
