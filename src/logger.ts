import { destination as pinoDestination, pino, symbols } from 'pino';
import type { DestinationStream, Logger, LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino: fast, maintained, one line per event). Conventions §12: log ids and
 * outcomes only — never tokens, JWTs, prefetch contents, patient data or card text. The redact list
 * is a second line of defence should a header or body ever be logged by mistake.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = loggerOptions(level);
  if (destination) return pino(options, destination);
  // stdout written asynchronously in 4 KB chunks: a synchronous write per request costs the hot path
  // about a tenth of its throughput (npm run bench). A quiet service must not hold lines back for
  // minutes (a 401's reason, a crash's last requests): the buffer is flushed at least every second,
  // and synchronously before the process exits on a fatal error (flushLogsSync).
  const stream = pinoDestination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    stream.flush();
  }, LOG_FLUSH_INTERVAL_MS).unref();
  return pino(options, stream);
}

/**
 * For start-up, before the configuration is read: JSON lines like every other, written
 * synchronously to stderr, so a failure to start is on record before the process exits.
 */
export function createStartupLogger(): Logger {
  return pino(loggerOptions('info'), pinoDestination({ dest: 2, sync: true }));
}

/** Writes whatever the logger holds in its buffer now, synchronously: before exiting on a fatal error. */
export function flushLogsSync(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // A closed stdout: nothing more can be written.
  }
}

/**
 * A crash (an uncaught exception, an unhandled rejection) is logged as a fatal JSON line, the buffer
 * written out synchronously first — the last requests before it are the ones an operator needs —
 * and the process exits 1.
 */
export function exitOnFatalErrors(logger: Logger): void {
  const fatal = (error: unknown, what: string): void => {
    const err = error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : { type: typeof error };
    logger.fatal({ err }, what);
    flushLogsSync(logger);
    process.exit(1);
  };
  process.on('uncaughtException', (error) => {
    fatal(error, 'uncaught exception; exiting');
  });
  process.on('unhandledRejection', (reason) => {
    fatal(reason, 'unhandled promise rejection; exiting');
  });
}

function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'glutamine-cds' },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'fhirAuthorization',
        '*.fhirAuthorization',
        'prefetch',
        '*.prefetch',
        'context',
        '*.context',
      ],
      censor: '[redacted]',
    },
  };
}

/** Longest time a log line waits in the buffer. */
const LOG_FLUSH_INTERVAL_MS = 1000;
