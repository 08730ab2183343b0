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
      paths: ['req.headers.authorization', 'headers.authorization', 'fhirAuthorization', '*.fhirAuthorization', 'prefetch', '*.prefetch', 'context', '*.context'],
      censor: '[redacted]',
    },
  };
  // stdout written asynchronously in 4 KB chunks: a synchronous write per request costs the hot path
  // about a tenth of its throughput (npm run bench); main.ts flushes on shutdown.
  return pino(options, destination ?? pinoDestination({ dest: 1, sync: false, minLength: 4096 }));
}
