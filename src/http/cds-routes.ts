import { Router, json } from 'express';
import type { Request, RequestHandler } from 'express';
import { discoveryDocument } from '../cds/discovery.js';
import { callHook } from '../cds/hook-call.js';
import type { HookCallDeps } from '../cds/hook-call.js';
import { methodNotAllowed } from './error-handler.js';
import { requestState } from './request-state.js';

/** Whether the request carried a body at all (the test type-is uses). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

export interface CdsRoutesDeps extends HookCallDeps {
  maxBodyBytes: number;
  /** Checks the client JWT before the body is even read; discovery stays open. */
  authenticate?: RequestHandler;
}

/** CDS Hooks 2.0 endpoints: discovery and one POST per service. Handlers parse, call one function, send. */
export function cdsRoutes(deps: CdsRoutesDeps): Router {
  const router = Router();
  // Computed once: the catalogue does not change while the process runs.
  const discovery = discoveryDocument(deps.catalogue);
  // Any Content-Type is read as JSON: some clients omit it or send text/plain; what is not JSON gets a 400.
  const body = json({ limit: deps.maxBodyBytes, type: () => true, strict: true });

  router
    .route('/cds-services')
    .get((_req, res) => {
      res.json(discovery);
    })
    .all(methodNotAllowed('GET'));

  router
    .route('/cds-services/:serviceId')
    .post(...(deps.authenticate ? [deps.authenticate] : []), body, async (req, res) => {
      const state = requestState(res);
      state.serviceId = req.params.serviceId;
      // body-parser turns an empty body into {}; report it as missing rather than as three missing fields.
      const result = await callHook(req.params.serviceId, hasBody(req) ? req.body : undefined, deps);
      state.hookInstance = result.hookInstance;
      state.ruleIds = result.ruleIds;
      // Cards carry patient data: never cache them.
      res.setHeader('Cache-Control', 'no-store');
      res.json(result.response);
    })
    .all(methodNotAllowed('POST'));

  return router;
}
