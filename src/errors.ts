/**
 * One error family with stable codes. Code throws these; the HTTP error handler is the only place
 * that turns them into responses (docs/conventions.md, convention 5). Messages are written for the caller and must
 * never contain patient data.
 */
const ERROR_STATUS = {
  ERR_BAD_REQUEST: 400,
  ERR_MALFORMED_JSON: 400,
  ERR_HOOK_MISMATCH: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_UNKNOWN_SERVICE: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_PREFETCH_UNAVAILABLE: 412,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_RATE_LIMITED: 429,
  ERR_INTERNAL: 500,
  ERR_BUSY: 503,
  ERR_STORE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * Every failure message of the service — these errors, FHIR fetch failures, JWT rejections — is
 * written through `wording`. Code decides by codes and kinds, never by message text; a test proves
 * it by rewording every message and checking that nothing behaves differently
 * (test/reworded-messages.test.ts). Production never changes the wording.
 */
const asWritten = (text: string): string => text;
let rewording: (text: string) => string = asWritten;

export function wording(text: string): string {
  return rewording(text);
}

/** Test-only: rewords every message from now on; `undefined` restores them. */
export function rewordMessagesForTests(reword: ((text: string) => string) | undefined): void {
  rewording = reword ?? asWritten;
}

export interface Problem {
  /** Where the problem is, as a dotted path into the request body (`context.patientId`). */
  path?: string;
  message: string;
}

export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly problems: Problem[];

  /** `cause`: what failed underneath (a database error), for the log line of a 5xx; never sent to the client. */
  constructor(code: ErrorCode, message: string, problems: Problem[] = [], options?: { cause?: unknown }) {
    super(wording(message), options);
    this.name = 'ServiceError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.problems = problems.map((p) => ({ ...p, message: wording(p.message) }));
  }
}

/**
 * What is wrong with cards/: a file that cannot be read, one that is not JSON, or content that the
 * schema or a cross-check refuses.
 */
export type CatalogueErrorCode = 'unreadable' | 'not-json' | 'invalid';

/** A file in cards/ is missing or malformed; raised at start-up, names the file and field. */
export class CatalogueError extends Error {
  override readonly name = 'CatalogueError';
  readonly code: CatalogueErrorCode;

  constructor(code: CatalogueErrorCode, message: string) {
    super(wording(message));
    this.code = code;
  }
}

/** The environment holds a bad setting; raised at start-up, lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];

  constructor(problems: string[]) {
    super(wording(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`));
    this.problems = problems;
  }
}
