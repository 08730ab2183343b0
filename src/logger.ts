import { destination as pinoDestination, pino } from 'pino';
import type { DestinationStream, Logger, LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino: fast, maintained, one line per event). Conventions §12: log ids and
 * outcomes only — never tokens, JWTs, prefetch contents, patient data or card text. The redact list
 * is a second line of defence should a header or body ever be logged by mistake.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
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
  if (destination) return pino(options, destination);
  // stdout written asynchronously in 4 KB chunks: a synchronous write per request costs the hot path
  // about a tenth of its throughput (npm run bench). A quiet service must not hold lines back for
  // minutes (a 401's reason, a crash's last requests): the buffer is flushed at least every second.
  const stream = pinoDestination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    stream.flush();
  }, LOG_FLUSH_INTERVAL_MS).unref();
  return pino(options, stream);
}

/** Longest time a log line waits in the buffer. */
const LOG_FLUSH_INTERVAL_MS = 1000;
