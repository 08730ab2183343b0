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
  private readonly hookDuration: Histogram<'service' | 'status'>;
  private readonly fhirRefusals: Counter;
  private readonly auditFailures: Counter<'kind'>;

  /**
   * `services`: each service id of cards/services.json, with its hook. `build`: the package version
   * and the rules version (the content hash of cards/, Catalogue.version), as glutamine_cds_build_info.
   */
  constructor(
    private readonly services: ReadonlyMap<string, string>,
    build: { version: string; rulesVersion: string } = { version: 'unknown', rulesVersion: 'unknown' },
  ) {
    const registers = [this.registry];
    // The standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds …), which the
    // usual Node.js dashboards look for; the service's own metrics carry the glutamine_cds_ prefix.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'glutamine_cds_build_info',
      help: 'Always 1: the running version and rules version as labels',
      labelNames: ['version', 'rules_version'],
      registers,
    }).set({ version: build.version, rules_version: build.rulesVersion }, 1);
    this.hookDuration = new Histogram({
      name: 'glutamine_cds_hook_request_duration_seconds',
      help: 'Whole hook calls, from the first byte in to the last byte out, by service and HTTP status',
      labelNames: ['service', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.fhirRefusals = new Counter({
      name: 'glutamine_cds_fhir_refused_total',
      help: 'Hook calls whose fhirServer was refused by policy (http, not on CDS_FHIR_SERVER_ALLOWLIST, credentials in the URL): nothing was fetched',
      registers,
    });
    this.auditFailures = new Counter({
      name: 'glutamine_cds_audit_failures_total',
      help: 'Audit store failures: card batches (card_*) and shown-card batches (shown_*) that could not be written (kept queued) or were dropped from a full queue, feedback refused with a 503',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ['card_write', 'card_dropped', 'shown_write', 'shown_dropped', 'feedback_write']) this.auditFailures.inc({ kind }, 0);
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

  hookRequest(serviceId: string | undefined, status: number, seconds: number): void {
    // An arbitrary id in the URL must not create a new time series. The hook is the service's own, so
    // a call refused before its body was read (401, 400, 412) is still counted under its hook.
    const hook = serviceId === undefined ? undefined : this.services.get(serviceId);
    const service = hook === undefined ? 'unknown' : (serviceId ?? 'unknown');
    this.requests.inc({ service, hook: hook ?? 'unknown', status: String(status) });
    this.hookDuration.observe({ service, status: String(status) }, seconds);
  }

  fhirRefused(): void {
    this.fhirRefusals.inc();
  }

  auditFailed(kind: 'card_write' | 'card_dropped' | 'shown_write' | 'shown_dropped' | 'feedback_write', count = 1): void {
    this.auditFailures.inc({ kind }, count);
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

  /** glutamine_cds_audit_queue_depth: audit rows waiting to be written — cards, and what repeat suppression remembers as shown (they pile up while the database is away). */
  watchAuditQueue(depth: () => number): void {
    new Gauge({
      name: 'glutamine_cds_audit_queue_depth',
      help: 'Audit rows waiting to be written to the audit database: issued cards and the cards remembered as shown',
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
