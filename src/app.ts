import cors from 'cors';
import express from 'express';
import type { Express } from 'express';
import type { Config } from './config.js';
import { cdsRoutes } from './http/cds-routes.js';
import { errorHandler, methodNotAllowed, notFound } from './http/error-handler.js';
import { requestLog } from './http/request-log.js';
import { rulePages } from './http/rule-pages.js';
import type { Logger } from './logger.js';
import type { Catalogue } from './rules/load-catalogue.js';

export interface AppDeps {
  config: Pick<Config, 'publicUrl' | 'maxBodyBytes' | 'fhir'>;
  catalogue: Catalogue;
  logger: Logger;
  now: () => Date;
  newId: () => string;
}

/**
 * The express app. Never listens and never reads the environment (conventions §1): main.ts does
 * that, and the tests drive this with supertest.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestLog(deps.logger, deps.newId));
  // CDS Hooks 2.0 §CORS: browser clients (the Sandbox) preflight every call without Authorization;
  // the preflight is answered here, before any auth, with 204.
  app.use(
    cors({
      origin: '*',
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept'],
      maxAge: 600,
    }),
  );
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  app
    .route('/healthz')
    .get((_req, res) => {
      res.json({ status: 'ok', rules: deps.catalogue.rules.length, services: deps.catalogue.services.length });
    })
    .all(methodNotAllowed('GET'));
  app.use(
    cdsRoutes({
      catalogue: deps.catalogue,
      publicUrl: deps.config.publicUrl,
      maxBodyBytes: deps.config.maxBodyBytes,
      fhir: deps.config.fhir,
      now: deps.now,
      newId: deps.newId,
    }),
  );
  app.use(rulePages(deps.catalogue));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
