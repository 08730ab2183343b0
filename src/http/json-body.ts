import { text } from 'express';
import type { RequestHandler } from 'express';
import secureJson from 'secure-json-parse';
import { checkTextDepth } from '../cds/input-limits.js';
import { ServiceError } from '../errors.js';

/**
 * The request body as JSON, whatever the Content-Type (some clients omit it or send text/plain),
 * read with secure-json-parse (fastify's): `__proto__` keys and `constructor.prototype` are removed
 * while parsing, so no later step — validation, storage — ever sees them. It is JSON.parse itself
 * unless the text contains one of those keys. Only an object or array is a body (as JSON's strict mode).
 * Text nested deeper than `maxDepth` is refused before it is parsed.
 */
export function jsonBody(limitBytes: number, maxDepth: number): RequestHandler[] {
  const readText = text({ limit: limitBytes, type: () => true });
  const parse: RequestHandler = (req, _res, next) => {
    if (typeof req.body !== 'string' || req.body === '') {
      // No body at all: the handler names what is missing ("request body is required").
      req.body = undefined;
      next();
      return;
    }
    let value: unknown;
    try {
      checkTextDepth(req.body, maxDepth);
    } catch (error) {
      next(error);
      return;
    }
    try {
      value = secureJson.parse(req.body, undefined, { protoAction: 'remove', constructorAction: 'remove' });
    } catch {
      next(new ServiceError('ERR_MALFORMED_JSON', 'The request body is not valid JSON'));
      return;
    }
    if (typeof value !== 'object' || value === null) {
      next(new ServiceError('ERR_MALFORMED_JSON', 'The request body must be a JSON object'));
      return;
    }
    req.body = value;
    next();
  };
  return [readText, parse];
}
