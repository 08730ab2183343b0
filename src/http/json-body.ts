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

/** JSON text that is an object or array (as JSON's strict mode), or a 400 naming what it is not. */
function parseObject(text: string): object {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ServiceError('ERR_MALFORMED_JSON', 'The request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null) throw new ServiceError('ERR_MALFORMED_JSON', 'The request body must be a JSON object');
  return value;
}

/**
 * The request body as JSON, whatever the Content-Type (some clients omit it or send text/plain).
 * Only an object or array is a body (as JSON's strict mode). Parsed with JSON.parse, then checked
 * in one walk: depth and string lengths within `limits`, and the keys a prototype could be reached
 * through (`__proto__`, `constructor.prototype`) removed, as fastify's secure-json-parse does — so
 * no later step, validation or storage, ever sees them. The hook call and feedback do not walk it again.
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
    // express's text reader has already dropped a byte order mark.
    const body: string = req.body;
    let value: unknown;
    try {
      if (body.length > UNSCANNED_CHARS) checkTextDepth(body, limits.maxDepth);
      value = parseObject(body);
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
