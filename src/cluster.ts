import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import type { Logger } from './logger.js';

/**
 * CDS_WORKERS=N: the primary process forks N workers that share one port (node:cluster hands
 * connections out round-robin); each worker is the whole service (main.ts), with the store shared
 * through the database — SQLite in WAL mode across processes, or PostgreSQL. The primary only
 * supervises:
 * - a worker that dies is replaced (after a second, so a crash loop does not spin);
 * - SIGHUP restarts the workers one at a time — a new one listening before the old one is asked to
 *   stop — so the port never stops answering (a rolling restart, e.g. after changing cards/);
 * - SIGTERM/SIGINT are passed to every worker, which drain and close as a single process does; the
 *   primary exits when they have.
 */

const RESPAWN_DELAY_MS = 1000;
/** A worker that is not listening this long after its fork is taken as failed. */
const START_TIMEOUT_MS = 30_000;

export async function runPrimary(workers: number, logger: Logger): Promise<void> {
  let stopping = false;
  /** Workers being replaced or stopped on purpose: their exit is expected. */
  const retiring = new Set<Worker>();

  /** A new worker, once it listens; rejects if it exits first or does not listen in time. */
  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      const settle = (error?: Error): void => {
        clearTimeout(timer);
        worker.off('listening', onListening);
        worker.off('exit', onExit);
        if (error) reject(error);
        else resolve(worker);
      };
      const onListening = (): void => {
        settle();
      };
      const onExit = (): void => {
        settle(new Error(`worker ${String(worker.id)} exited before listening`));
      };
      const timer = setTimeout(() => {
        settle(new Error(`worker ${String(worker.id)} did not listen within ${String(START_TIMEOUT_MS)} ms`));
      }, START_TIMEOUT_MS);
      worker.on('listening', onListening);
      worker.on('exit', onExit);
    });

  cluster.on('exit', (worker, code, signal) => {
    if (stopping || retiring.delete(worker)) return;
    logger.error({ worker: worker.id, code, signal }, 'worker exited; starting another');
    setTimeout(() => {
      if (!stopping)
        fork().catch((error: unknown) => {
          logger.error({ err: { message: (error as Error).message } }, 'replacement worker failed to start');
        });
    }, RESPAWN_DELAY_MS).unref();
  });

  // Workers start one after another: the first runs the database migrations alone.
  for (let i = 0; i < workers; i++) {
    try {
      await fork();
    } catch (error) {
      logger.fatal({ err: { message: (error as Error).message } }, 'a worker failed to start; stopping');
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      process.exitCode = 1;
      return;
    }
  }
  logger.info({ workers }, 'glutamine-cds primary: workers listening');

  let restarting = false;
  process.on('SIGHUP', () => {
    if (restarting || stopping) return;
    restarting = true;
    void (async () => {
      const old = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      logger.info({ workers: old.length }, 'SIGHUP: rolling restart');
      try {
        for (const worker of old) {
          await fork();
          retiring.add(worker);
          const exited = once(worker, 'exit');
          // The worker's own SIGTERM path: it drains and writes its queued audit, as a single process does.
          worker.process.kill('SIGTERM');
          await exited;
        }
        logger.info({ workers: old.length }, 'rolling restart done');
      } catch (error) {
        logger.error({ err: { message: (error as Error).message } }, 'rolling restart stopped: a new worker failed to start; the others keep serving');
      } finally {
        restarting = false;
      }
    })();
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'primary shutting down: stopping the workers');
    const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    void Promise.all(running.map((w) => once(w, 'exit'))).then(() => {
      process.exit(0);
    });
    for (const worker of running) worker.process.kill(signal);
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
}
