import type { RequestHandler } from 'express';
import type { Verification } from '../auth/verify-client-jwt.js';
import type { Logger } from '../logger.js';
import type { ServiceMetrics } from './metrics.js';
import { ServiceError } from '../errors.js';
import { requestState } from './request-state.js';

/** All a refused caller learns (CDS Hooks security best practices: no details); the reason is logged. */
export const AUTHENTICATION_REQUIRED = 'Authentication required';

export type ClientVerifier = (authorization: string | undefined, expectedAudience: string) => Promise<Verification>;

/**
 * Requires a valid CDS client JWT (CDS Hooks 2.0 §Trusting CDS Clients). The audience is the exact
 * public URL called. A failure is a bare 401 with `WWW-Authenticate: Bearer` (CDS Hooks security best practices: no details); the
 * reason is logged — never the token.
 */
export function requireClientJwt(verify: ClientVerifier, publicUrl: string, logger: Logger, metrics?: ServiceMetrics): RequestHandler {
  return async (req, res, next) => {
    const audience = `${publicUrl}${req.baseUrl}${req.path}`;
    const result = await verify(req.headers.authorization, audience);
    const state = requestState(res);
    if (!result.ok) {
      logger.warn({ requestId: state.requestId, reason: result.reason }, 'client JWT rejected');
      metrics?.jwtRejected(result.code);
      next(new ServiceError('ERR_UNAUTHORIZED', AUTHENTICATION_REQUIRED));
      return;
    }
    state.client = { iss: result.iss, jti: result.jti, ...(result.tenant ? { tenant: result.tenant } : {}) };
    next();
  };
}
