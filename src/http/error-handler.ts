import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ServiceError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { operationOutcome } from './operation-outcome.js';
import { requestState } from './request-state.js';

/** body-parser marks its own errors with a `type`; these are the client's fault, never a 500. */
const BODY_PARSER_ERRORS: Record<string, { code: ErrorCode; message: string }> = {
  'entity.parse.failed': { code: 'ERR_MALFORMED_JSON', message: 'The request body is not valid JSON' },
  'entity.too.large': { code: 'ERR_PAYLOAD_TOO_LARGE', message: 'The request body is larger than this service accepts (CDS_MAX_BODY)' },
  'encoding.unsupported': { code: 'ERR_UNSUPPORTED_MEDIA_TYPE', message: 'The request body encoding is not supported' },
  'charset.unsupported': { code: 'ERR_UNSUPPORTED_MEDIA_TYPE', message: 'The request body charset is not supported; send UTF-8 JSON' },
  'request.aborted': { code: 'ERR_BAD_REQUEST', message: 'The request was aborted before its body arrived' },
  'request.size.invalid': { code: 'ERR_BAD_REQUEST', message: 'The request body length does not match Content-Length' },
  'stream.encoding.set': { code: 'ERR_BAD_REQUEST', message: 'The request body could not be read' },
};

function bodyParserError(error: unknown): ServiceError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  // A body that says Content-Encoding gzip/deflate/br but is not: zlib's error, the client's fault.
  if ('code' in error && typeof error.code === 'string' && error.code.startsWith('Z_')) {
    return new ServiceError('ERR_BAD_REQUEST', 'The request body could not be decompressed (Content-Encoding does not match it)');
  }
  if (!('type' in error) || typeof error.type !== 'string') return undefined;
  const known = BODY_PARSER_ERRORS[error.type];
  return known ? new ServiceError(known.code, known.message) : undefined;
}

/** The one place errors become HTTP (docs/conventions.md, convention 5). Unknown errors: logged with the request id, answered generically. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const state = requestState(res);
    const known = error instanceof ServiceError ? error : bodyParserError(error);
    if (known) {
      state.errorCode = known.code;
      // RFC 6750 §3: a 401 names the scheme it wants; nothing more (CDS Hooks security best practices).
      if (known.code === 'ERR_UNAUTHORIZED') res.set('WWW-Authenticate', 'Bearer');
      if (known.code === 'ERR_STORE_UNAVAILABLE') res.set('Retry-After', '5');
      if (known.status >= 500) {
        // What failed underneath, for the operator: the database's message (never request content).
        const cause = known.cause instanceof Error ? { name: known.cause.name, message: known.cause.message } : undefined;
        logger.error({ requestId: state.requestId, errorCode: known.code, ...(cause ? { err: cause } : {}) }, known.message);
      }
      res
        .status(known.status)
        .type('application/fhir+json')
        .json(operationOutcome(known.code, known.message, known.problems));
      return;
    }
    state.errorCode = 'ERR_INTERNAL';
    // The stack says where, never what: no request content reaches this log line.
    logger.error(
      { requestId: state.requestId, err: { name: (error as Error | undefined)?.name, stack: (error as Error | undefined)?.stack } },
      'unhandled error',
    );
    res
      .status(500)
      .type('application/fhir+json')
      .json(operationOutcome('ERR_INTERNAL', `Internal error; reference ${state.requestId}`));
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new ServiceError('ERR_NOT_FOUND', `Nothing at ${req.method} ${req.path}`));
};

export function methodNotAllowed(allowed: string): RequestHandler {
  return (req, res, next) => {
    res.setHeader('Allow', allowed);
    next(new ServiceError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allowed}`));
  };
}
