import { text } from 'express';
import type { RequestHandler } from 'express';
import { checkAndCleanShape, checkTextDepth } from '../cds/input-limits.js';
import type { InputLimits } from '../cds/input-limits.js';
import { ServiceError } from '../errors.js';

/**
 * Bodies up to this many characters are parsed without first scanning their text for depth. The scan
 * exists because nesting makes JSON.parse dearer per byte than any real body (7 ×: 55 ms per MB of
 * brackets against 7.5 ms per MB of FHIR, and a 5 MB bracket body took 850 ms and 280 MB). Below
 * this size even all brackets parse in less time than the largest body accepted (256 KB: 14 ms,
 * 17 MB; a 5 MB FHIR body: 38 ms), and the parsed value's own check refuses the depth right after;
 * above it the scan runs first. The scan cost a third of a parse on every call (docs/performance.md).
 */
const UNSCANNED_CHARS = 256 * 1024;

const BYTE_ORDER_MARK = 0xfeff;

/**
 * The request body as JSON, whatever the Content-Type (some clients omit it or send text/plain).
 * Only an object or array is a body (as JSON's strict mode). Parsed with JSON.parse, then checked
 * in one walk: depth and string lengths within `limits`, and the keys a prototype could be reached
 * through (`__proto__`, `constructor.prototype`) removed, as fastify's secure-json-parse does — so
 * no later step, validation or storage, ever sees them. A hook call does not walk the body again.
 */
export function jsonBody(limitBytes: number, limits: Pick<InputLimits, 'maxDepth' | 'maxStringLength'>): RequestHandler[] {
  const readText = text({ limit: limitBytes, type: () => true });
  const parse: RequestHandler = (req, _res, next) => {
    if (typeof req.body !== 'string' || req.body === '') {
      // No body at all: the handler names what is missing ("request body is required").
      req.body = undefined;
      next();
      return;
    }
    const body = req.body.charCodeAt(0) === BYTE_ORDER_MARK ? req.body.slice(1) : req.body;
    let value: unknown;
    try {
      if (body.length > UNSCANNED_CHARS) checkTextDepth(body, limits.maxDepth);
    } catch (error) {
      next(error);
      return;
    }
    try {
      value = JSON.parse(body);
    } catch {
      next(new ServiceError('ERR_MALFORMED_JSON', 'The request body is not valid JSON'));
      return;
    }
    if (typeof value !== 'object' || value === null) {
      next(new ServiceError('ERR_MALFORMED_JSON', 'The request body must be a JSON object'));
      return;
    }
    try {
      checkAndCleanShape(value, limits);
    } catch (error) {
      next(error);
      return;
    }
    req.body = value;
    next();
  };
  return [readText, parse];
}
