import type { RequestHandler } from 'express';
import { ServiceError } from '../errors.js';

/** Seconds a client is told to wait when the service is full. */
const RETRY_AFTER_SECONDS = 1;

/**
 * At most `maxConcurrent` hook calls at once, before their bodies are even read (so the bodies of
 * waiting calls stay in the kernel's buffers, not in memory); up to `maxQueued` more wait their
 * turn, in order; beyond that a 503 with Retry-After. /healthz and /metrics are not gated.
 */
export function hookGate(maxConcurrent: number, maxQueued: number = 4 * maxConcurrent): RequestHandler {
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };
  return (_req, res, next) => {
    const admit = (): void => {
      // A caller that hung up while it waited gives its turn straight back.
      if (res.closed) {
        release();
        return;
      }
      res.once('close', release);
      next();
    };
    if (running < maxConcurrent) {
      running += 1;
      admit();
    } else if (waiting.length < maxQueued) {
      waiting.push(admit);
      // Leaving the queue before its turn frees the place in it.
      res.once('close', () => {
        const at = waiting.indexOf(admit);
        if (at >= 0) waiting.splice(at, 1);
      });
    } else {
      res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      next(new ServiceError('ERR_BUSY', `The service is at its limit of ${maxConcurrent} hook calls at once (CDS_MAX_CONCURRENT_HOOKS); retry shortly`));
    }
  };
}
