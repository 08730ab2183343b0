import { randomUUID } from 'node:crypto';
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createApp, loggedCardAuditQueue } from './app.js';
import { runPrimary } from './cluster.js';
import { authMode } from './auth/protected-mode.js';
import { loadTrustedClients } from './auth/trusted-clients.js';
import type { TrustedClient } from './auth/trusted-clients.js';
import { clientVerifier } from './auth/verify-client-jwt.js';
import { loadConfig, packageVersion } from './config.js';
import type { Config } from './config.js';
import { CatalogueError, ConfigError } from './errors.js';
import { DAY_MS } from './fhir/dates.js';
import type { ClientVerifier } from './http/client-auth.js';
import { ServiceMetrics } from './http/metrics.js';
import { createLogger, createStartupLogger, exitOnFatalErrors, flushLogsSync } from './logger.js';
import { loadCatalogue } from './rules/load-catalogue.js';
import type { AuditStore } from './store/audit-store.js';
import { DEFAULT_OPEN_OPTIONS, describeDatabaseUrl, openAuditStore } from './store/open-store.js';
import type { ReplayGuard } from './store/replay-guard.js';

const startupLog = createStartupLogger();

/** The least a cluster worker drains after SIGTERM (see shutdown). */
const WORKER_DRAIN_MS = 1000;

/** Stops the process with a JSON line naming what is wrong (start-up only), written before the exit. */
function exitWith(message: string, fields: Record<string, unknown> = {}): never {
  startupLog.fatal(fields, message);
  process.exit(1);
}

/** The process: config, trusted clients, catalogue, app, listen, graceful shutdown. The only place that exits (with the fatal-error handler it installs). */
async function main(): Promise<void> {
  let config: Readonly<Config>;
  let clients: TrustedClient[] | undefined;
  try {
    config = loadConfig(process.env);
    clients = config.trustedClientsFile ? loadTrustedClients(config.trustedClientsFile) : undefined;
  } catch (error) {
    if (error instanceof ConfigError) exitWith(error.message);
    throw error;
  }
  // CDS_WORKERS > 1: this is the primary, which only supervises the workers (cluster.ts).
  if (config.workers > 1 && cluster.isPrimary) {
    const primaryLog = createLogger(config.logLevel);
    exitOnFatalErrors(primaryLog);
    await runPrimary(config.workers, primaryLog);
    return;
  }
  const logger = cluster.isWorker ? createLogger(config.logLevel).child({ worker: cluster.worker?.id }) : createLogger(config.logLevel);
  exitOnFatalErrors(logger);
  const mode = authMode(clients !== undefined, config.host, config.allowUnauthenticated);
  if (mode.mode === 'refuse') exitWith(mode.error);
  if (mode.mode !== 'verify') logger.warn(mode.warning);

  // cards/ sits next to src/ and dist/, so this resolves in development and in the built image.
  const cardsDir = fileURLToPath(new URL('../cards/', import.meta.url));
  let catalogue;
  try {
    catalogue = loadCatalogue(cardsDir);
  } catch (error) {
    if (error instanceof CatalogueError) exitWith(`Cannot start: ${error.message}`, { code: error.code });
    throw error;
  }

  let store: AuditStore & ReplayGuard;
  const where = config.databaseUrl ? describeDatabaseUrl(config.databaseUrl) : config.dbPath;
  try {
    store = await openAuditStore(config, {
      ...DEFAULT_OPEN_OPTIONS,
      onRetry: (attempt, error, waitMs) => {
        logger.warn({ attempt, waitMs, database: where, err: { name: error.name, message: error.message } }, 'audit database not reachable; retrying');
      },
    });
  } catch (error) {
    flushLogsSync(logger);
    exitWith(`Cannot open the audit database ${where}: ${(error as Error).message}`);
  }
  const version = packageVersion();
  const metrics = new ServiceMetrics(new Map(catalogue.services.map((s) => [s.id, s.hook])), { version, rulesVersion: catalogue.version });
  const auditQueue = loggedCardAuditQueue(store, logger, metrics);
  // Replay protection lives in the store, so a jti used before a restart stays used after it.
  const verifyClient: ClientVerifier | undefined = clients ? clientVerifier(clients, { replay: store }) : undefined;
  // Retention: purge now and every hour; the timer must not keep the process alive.
  const purge = async (): Promise<void> => {
    try {
      const removed = await store.purgeBefore(new Date(Date.now() - config.retentionDays * DAY_MS).toISOString());
      if (removed > 0) logger.info({ removed, retentionDays: config.retentionDays }, 'audit retention purge');
      // What was shown longer ago than the repeat window can never be a repeat again.
      await store.forgetShownBefore(new Date(Date.now() - config.repeatWindowMs).toISOString());
    } catch (error) {
      logger.error({ err: { name: (error as Error).name, message: (error as Error).message } }, 'audit retention purge failed');
    }
  };
  void purge();
  setInterval(() => void purge(), 3_600_000).unref();

  if (config.preview) logger.warn('CDS_PREVIEW=true: GET /preview shows the fixture library; not for production');
  const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));
  metrics.watchAuditQueue(() => auditQueue.depth);
  // OpenTelemetry only when the OTEL_* variables ask for it: its SDK is not even loaded otherwise.
  const tracer = config.tracing.enabled
    ? (await import('./http/otel-tracing.js')).openTelemetryTracer({ serviceName: config.tracing.serviceName, version })
    : undefined;
  if (tracer) logger.info({ serviceName: config.tracing.serviceName }, 'OpenTelemetry tracing on (OTLP/HTTP)');
  const lifecycle = { draining: false };
  const app = createApp({
    config,
    catalogue,
    logger,
    store,
    auditQueue,
    metrics,
    fixturesDir,
    now: () => new Date(),
    newId: randomUUID,
    ...(verifyClient ? { verifyClient } : {}),
    ...(tracer ? { tracer } : {}),
    lifecycle,
    version,
  });
  // A slow client may not hold a connection open: the whole request within the timeout, checked every second.
  const server = createServer(
    { requestTimeout: config.requestTimeoutMs, headersTimeout: Math.min(config.requestTimeoutMs, 60_000), connectionsCheckingInterval: 1000 },
    app,
  );
  server.listen(config.port, config.host, () => {
    const address = server.address();
    // PORT=0 asks the OS for a free port; report the one actually bound.
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info(
      { host: config.host, port, publicUrl: config.publicUrl, rules: catalogue.rules.length, authentication: mode.mode === 'verify' ? 'jwt' : 'none' },
      'glutamine-cds listening',
    );
    // The log is buffered: let operators (and supervisors waiting for this line) see it now.
    logger.flush();
  });
  server.on('error', (error: NodeJS.ErrnoException) => {
    flushLogsSync(logger);
    exitWith(`Cannot listen on ${config.host}:${String(config.port)}: ${error.message}`, { code: error.code });
  });

  // Draining first: /readyz answers 503 for CDS_SHUTDOWN_GRACE_MS while calls are still answered, so
  // a load balancer takes this replica out before its listener closes. Then stop accepting, let
  // in-flight requests finish (their feedback is stored before they answer), write the audit still
  // queued, and close the database so the WAL is checkpointed.
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    lifecycle.draining = true;
    // A worker among others drains for at least a second: its answers say Connection: close, so
    // keep-alive clients move to the other workers before its sockets close (closing an idle one
    // as a client reuses it fails that call).
    const graceMs = cluster.isWorker ? Math.max(config.shutdownGraceMs, WORKER_DRAIN_MS) : config.shutdownGraceMs;
    logger.info({ signal, graceMs }, 'shutting down: draining');
    setTimeout(closeDown, graceMs).unref();
  };
  const closeDown = (): void => {
    let finishing = false;
    const finish = (): void => {
      if (finishing) return;
      finishing = true;
      setTimeout(() => process.exit(0), 5000).unref();
      // The audit still queued is written, then the database closed; a store that does not answer
      // cannot hold the exit up beyond the grace period below.
      void auditQueue
        .close()
        .then(() => store.close())
        .then(() => tracer?.shutdown())
        .catch((error: unknown) => {
          logger.error({ err: { name: (error as Error).name, message: (error as Error).message } }, 'audit store did not close cleanly');
        })
        .finally(() => {
          flushLogsSync(logger);
          process.exit(0);
        });
    };
    server.close(finish);
    server.closeIdleConnections();
    // Hook calls are short; a client holding a connection open does not keep us up for long.
    setTimeout(() => {
      server.closeAllConnections();
      finish();
    }, 5000).unref();
  };
  process.on('SIGTERM', () => {
    shutdown('SIGTERM');
  });
  process.on('SIGINT', () => {
    shutdown('SIGINT');
  });
}

await main();
