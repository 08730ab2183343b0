import cors from 'cors';
import express from 'express';
import helmet from 'helmet';
import type { Express } from 'express';
import type { Config } from './config.js';
import { analyticsRoutes } from './http/analytics-route.js';
import { cdsRoutes } from './http/cds-routes.js';
import { requireClientJwt } from './http/client-auth.js';
import type { ClientVerifier } from './http/client-auth.js';
import { errorHandler, methodNotAllowed, notFound } from './http/error-handler.js';
import { metricsRoute } from './http/metrics.js';
import type { ServiceMetrics } from './http/metrics.js';
import { previewRoutes } from './http/preview.js';
import { requestLog } from './http/request-log.js';
import { rulePages } from './http/rule-pages.js';
import type { Logger } from './logger.js';
import type { Catalogue } from './rules/load-catalogue.js';
import type { AuditStore } from './store/audit-store.js';
import { CardAuditQueue, DEFAULT_CARD_AUDIT_QUEUE } from './store/card-audit-queue.js';
import type { HookCallTracer } from './http/trace-context.js';
import { openApiDocument } from './http/openapi.js';

export interface AppDeps {
  config: Pick<Config, 'publicUrl' | 'maxBodyBytes' | 'fhir'> &
    Partial<
      Pick<
        Config,
        | 'corsOrigins'
        | 'storeComments'
        | 'adminToken'
        | 'retentionDays'
        | 'preview'
        | 'limits'
        | 'maxConcurrentHooks'
        | 'feedbackPerMinute'
        | 'repeatWindowMs'
        | 'allowUnauthenticated'
      >
    >;
  /** Prometheus metrics; served at GET /metrics when given. */
  metrics?: ServiceMetrics;
  /** Where the preview finds the fixture library (only read when config.preview is on). */
  fixturesDir?: string;
  /** Card audit and feedback. */
  store: AuditStore;
  /** The queue the card audit is written through; one over `store` when not given. */
  auditQueue?: CardAuditQueue;
  /** Verifies CDS client JWTs on hook calls; absent in protected (loopback or explicitly open) mode. */
  verifyClient?: ClientVerifier;
  catalogue: Catalogue;
  logger: Logger;
  now: () => Date;
  newId: () => string;
  /** Traces hook calls (OpenTelemetry); without it the caller's trace context is only passed on. */
  tracer?: HookCallTracer;
  /** The package version, for the OpenAPI document. */
  version?: string;
  /** Set by main.ts on SIGTERM: /readyz answers 503 while requests are still served. */
  lifecycle?: { draining: boolean };
}

/**
 * The express app. Never listens and never reads the environment (docs/conventions.md, convention 1): main.ts does
 * that, and the tests drive this with supertest.
 */
/** The card audit queue over `store`, its failures logged (by kind, never by content). */
export function loggedCardAuditQueue(store: AuditStore, logger: Logger, metrics?: ServiceMetrics): CardAuditQueue {
  return new CardAuditQueue(store, {
    ...DEFAULT_CARD_AUDIT_QUEUE,
    onWriteFailed: (error, queued, requestIds, rows) => {
      const cards = rows === 'cards';
      metrics?.auditFailed(cards ? 'card_write' : 'shown_write');
      logger.error(
        { requestIds, err: { name: (error as Error).name, message: (error as Error).message }, queued },
        cards ? 'card audit write failed; cards stay queued' : 'shown cards write failed; they stay queued',
      );
    },
    onDropped: (dropped, rows) => {
      const cards = rows === 'cards';
      metrics?.auditFailed(cards ? 'card_dropped' : 'shown_dropped', dropped);
      logger.error({ dropped }, cards ? 'card audit queue full; oldest cards dropped' : 'shown cards queue full; oldest dropped');
    },
  });
}

export function createApp(deps: AppDeps): Express {
  const audit = deps.auditQueue ?? loggedCardAuditQueue(deps.store, deps.logger, deps.metrics);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(deps.logger, deps.newId, deps.metrics));
  // CDS Hooks 2.0 §CORS: browser clients (the Sandbox) preflight every call without Authorization;
  // the preflight is answered here, before any auth, with 204.
  // Security headers; CORP cross-origin because browser-based EHR clients call this API from elsewhere.
  app.use(helmet({ crossOriginResourcePolicy: { policy: 'cross-origin' } }));
  app.use(
    cors({
      origin: deps.config.corsOrigins === undefined || deps.config.corsOrigins === '*' ? '*' : [...deps.config.corsOrigins],
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept'],
      maxAge: 600,
    }),
  );

  // Liveness: the process answers. Readiness: it can also reach its audit database (a load balancer
  // sends hook calls elsewhere meanwhile; this replica would still answer them, with the audit queued).
  app
    .route('/healthz')
    .get((_req, res) => {
      res.json({ status: 'ok', rules: deps.catalogue.rules.length, services: deps.catalogue.services.length });
    })
    .all(methodNotAllowed('GET'));
  // Draining (after SIGTERM, for CDS_SHUTDOWN_GRACE_MS): still serving, but a load balancer should
  // send new calls elsewhere, and keep-alive connections are closed after their current answer.
  app.use((_req, res, next) => {
    if (deps.lifecycle?.draining) res.setHeader('Connection', 'close');
    next();
  });
  app
    .route('/readyz')
    .get(async (_req, res) => {
      const status = deps.lifecycle?.draining ? 'draining' : audit.failing || !(await deps.store.writable()) ? 'audit database not writable' : 'ready';
      res.status(status === 'ready' ? 200 : 503).json({ status, auditQueue: audit.depth });
    })
    .all(methodNotAllowed('GET'));
  app.use(
    cdsRoutes({
      catalogue: deps.catalogue,
      publicUrl: deps.config.publicUrl,
      maxBodyBytes: deps.config.maxBodyBytes,
      fhir: deps.config.fhir,
      ...(deps.config.limits ? { limits: deps.config.limits } : {}),
      ...(deps.config.maxConcurrentHooks ? { maxConcurrentHooks: deps.config.maxConcurrentHooks } : {}),
      ...(deps.config.feedbackPerMinute ? { feedbackPerMinute: deps.config.feedbackPerMinute } : {}),
      repeatWindowMs: deps.config.repeatWindowMs ?? 4 * 3_600_000,
      store: deps.store,
      audit,
      storeComments: deps.config.storeComments ?? false,
      logger: deps.logger,
      ...(deps.verifyClient ? { authenticate: requireClientJwt(deps.verifyClient, deps.config.publicUrl, deps.logger, deps.metrics) } : {}),
      allowUnauthenticated: deps.config.allowUnauthenticated ?? false,
      ...(deps.tracer ? { tracer: deps.tracer } : {}),
      ...(deps.metrics
        ? {
            metrics: deps.metrics,
            observeFetch: (seconds: number, outcome: string) => deps.metrics?.fhirFetch(seconds, outcome),
            observeRefusal: () => deps.metrics?.fhirRefused(),
          }
        : {}),
      now: deps.now,
      newId: deps.newId,
    }),
  );
  // Built once: the catalogue does not change while the process runs.
  const openApi = openApiDocument(deps.catalogue, deps.version ?? 'unknown', deps.config.publicUrl);
  app
    .route('/openapi.json')
    .get((_req, res) => {
      res.json(openApi);
    })
    .all(methodNotAllowed('GET'));
  if (deps.metrics) app.route('/metrics').get(metricsRoute(deps.metrics)).all(methodNotAllowed('GET'));
  app.use(rulePages(deps.catalogue));
  if (deps.config.preview && deps.fixturesDir) {
    app.use(previewRoutes({ catalogue: deps.catalogue, fixturesDir: deps.fixturesDir, publicUrl: deps.config.publicUrl }));
  }
  if (deps.config.adminToken) {
    app.use(
      analyticsRoutes({
        adminToken: deps.config.adminToken,
        store: deps.store,
        audit,
        catalogue: deps.catalogue,
        retentionDays: deps.config.retentionDays ?? 365,
        now: deps.now,
      }),
    );
  }
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
