import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { ServiceError } from '../errors.js';
import { requestState } from './request-state.js';

/**
 * Per-client rate limit on feedback (express-rate-limit, memory store: one budget per replica). The
 * client is the authenticated EHR (iss and tenant) or, unauthenticated, the caller's address. Beyond
 * the limit: 429 with RateLimit and Retry-After headers, nothing stored.
 */
export function feedbackRateLimit(postsPerMinute: number): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: postsPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req, res) => {
      const client = requestState(res).client;
      return client ? `client:${client.iss}|${client.tenant ?? ''}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`;
    },
    handler: (_req, _res, next) => {
      next(new ServiceError('ERR_RATE_LIMITED', `Too much feedback from this client: at most ${postsPerMinute} posts a minute (CDS_FEEDBACK_PER_MINUTE)`));
    },
  });
}
