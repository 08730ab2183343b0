import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import type { RequestHandler } from 'express';
import { analyticsSince, ruleAnalytics } from '../cds/analytics.js';
import { ServiceError } from '../errors.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import type { AuditStore } from '../store/audit-store.js';
import type { CardAuditQueue } from '../store/card-audit-queue.js';
import { bearerToken } from '../auth/bearer-token.js';
import { AUTHENTICATION_REQUIRED } from './client-auth.js';
import { methodNotAllowed } from './error-handler.js';

export interface AnalyticsDeps {
  adminToken: string;
  store: AuditStore;
  /** Flushed first, so that the figures include this replica's latest cards. */
  audit: CardAuditQueue;
  catalogue: Catalogue;
  retentionDays: number;
  now: () => Date;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function requireAdmin(token: string): RequestHandler {
  return (req, _res, next) => {
    const given = bearerToken(req.headers.authorization);
    next(given && sameSecret(given, token) ? undefined : new ServiceError('ERR_UNAUTHORIZED', AUTHENTICATION_REQUIRED));
  };
}

/** `GET /analytics/rules?since=<date>`: how clinicians respond to each rule (CDS_ADMIN_TOKEN). */
export function analyticsRoutes(deps: AnalyticsDeps): Router {
  const router = Router();
  router
    .route('/analytics/rules')
    .get(requireAdmin(deps.adminToken), async (req, res) => {
      const given = req.query.since;
      const since = given === undefined || typeof given === 'string' ? analyticsSince(given, deps.now(), deps.retentionDays) : undefined;
      if (since === undefined) {
        throw new ServiceError('ERR_BAD_REQUEST', 'since must be a date such as 2026-01-01', [
          { path: 'since', message: 'since must be a date such as 2026-01-01' },
        ]);
      }
      res.setHeader('Cache-Control', 'no-store');
      await deps.audit.flush();
      let report: Awaited<ReturnType<typeof ruleAnalytics>>;
      try {
        report = await ruleAnalytics(deps.store, deps.catalogue, since, deps.now());
      } catch {
        throw new ServiceError('ERR_STORE_UNAVAILABLE', 'The audit database does not answer just now; try again later');
      }
      res.json(report);
    })
    .all(methodNotAllowed('GET'));
  return router;
}
