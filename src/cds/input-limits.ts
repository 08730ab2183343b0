import { ServiceError } from '../errors.js';

/** What one request may hold (issue: no single caller can stall or fill the service). */
export interface InputLimits {
  /** Deepest nesting of objects and arrays. */
  maxDepth: number;
  /** Longest string value or key, in characters. */
  maxStringLength: number;
  /** Most entries in context.draftOrders (CDS_MAX_DRAFT_ORDERS). */
  maxDraftOrders: number;
  /** Most resources across all prefetch values (CDS_MAX_PREFETCH_RESOURCES). */
  maxPrefetchResources: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = { maxDepth: 64, maxStringLength: 64 * 1024, maxDraftOrders: 500, maxPrefetchResources: 20_000 };

function tooLarge(message: string, path?: string): ServiceError {
  return new ServiceError('ERR_PAYLOAD_TOO_LARGE', message, path ? [{ path, message }] : []);
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The nesting depth of JSON text, checked before it is parsed: JSON.parse builds a 4-million-deep
 * array out of 8 MB of brackets without complaint (six at once took 1.3 GB and blocked the service for
 * 4.7 s), so what is too deep must be refused unparsed. One pass; brackets inside strings do not count.
 * Strings — most of a FHIR body — are skipped with indexOf to their closing quote rather than read
 * character by character (this check was a ninth of a hook call's CPU). Text that is not JSON is left
 * to the parser to name.
 */
export function checkTextDepth(text: string, maxDepth: number): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (end < 0) return;
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) throw tooLarge(`The request is nested deeper than ${maxDepth} levels`);
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
}

/** The index of the quote that closes the string opened at `open`: the next one not escaped by an odd run of backslashes; -1 if none. */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    for (let k = at - 1; k > open && text.charCodeAt(k) === BACKSLASH; k--) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/**
 * Whether an object's key could reach a prototype, as secure-json-parse (fastify's) defines it:
 * `__proto__`, and `constructor` holding an object with its own `prototype`.
 */
function isPrototypeKey(key: string, value: unknown): boolean {
  return key === '__proto__' || (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype'));
}

type ShapeLimits = Pick<InputLimits, 'maxDepth' | 'maxStringLength'>;

/**
 * Bodies whose shape has been checked, with the limits they met: the HTTP layer checks as it parses,
 * so the hook call and feedback do not walk the body again (unless they ask for tighter limits).
 */
const checkedBodies = new WeakMap<object, ShapeLimits>();

function alreadyChecked(body: unknown, limits: ShapeLimits): boolean {
  const met = typeof body === 'object' && body !== null ? checkedBodies.get(body) : undefined;
  return met !== undefined && met.maxDepth <= limits.maxDepth && met.maxStringLength <= limits.maxStringLength;
}

/**
 * Depth and string lengths of any JSON body, in one pass without recursion (so a 2,000-deep
 * array is rejected, not a stack overflow), removing the keys a prototype could be reached through
 * (`__proto__`, `constructor.prototype`) so that no later step — validation, storage — ever sees
 * them. Linear in the body's size.
 */
export function checkAndCleanShape(body: unknown, limits: ShapeLimits): void {
  if (alreadyChecked(body, limits)) return;
  // Containers only go on the stack, with their depth beside them in a second array: this runs on
  // every hook call over every node of the body, so it allocates nothing per node (a stack of
  // {value, depth} objects and Object.entries made it a quarter of a hook call's CPU).
  const containers: object[] = [];
  const depths: number[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      if (value.length > limits.maxStringLength) throw tooLarge(`A string in the request is longer than ${limits.maxStringLength} characters`);
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= limits.maxDepth) throw tooLarge(`The request is nested deeper than ${limits.maxDepth} levels`);
      containers.push(value);
      depths.push(depth);
    }
  };
  visit(body, 0);
  while (containers.length > 0) {
    const value = containers.pop() as object;
    const depth = (depths.pop() as number) + 1;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) visit(value[i], depth);
      continue;
    }
    const record = value as Record<string, unknown>;
    for (const key in record) {
      if (key.length > limits.maxStringLength) throw tooLarge(`A key in the request is longer than ${limits.maxStringLength} characters`);
      const child = record[key];
      if (isPrototypeKey(key, child)) {
        // JSON.parse made it an own property; deleting it leaves the object's real prototype alone.
        Reflect.deleteProperty(record, key);
        continue;
      }
      visit(child, depth);
    }
  }
  if (typeof body === 'object' && body !== null) checkedBodies.set(body, { maxDepth: limits.maxDepth, maxStringLength: limits.maxStringLength });
}

function entryCount(bundleLike: unknown): number {
  if (typeof bundleLike !== 'object' || bundleLike === null) return 0;
  const entry = (bundleLike as { entry?: unknown }).entry;
  // A Bundle's entries; anything else (a resource, an object where R4 has an array) counts as one.
  return Array.isArray(entry) ? entry.length : 1;
}

/** A hook request's size in drafts and prefetched resources, against the configured limits. */
export function checkHookRequestSize(body: unknown, limits: InputLimits): void {
  checkAndCleanShape(body, limits);
  if (typeof body !== 'object' || body === null) return;
  const { context, prefetch } = body as { context?: { draftOrders?: unknown }; prefetch?: unknown };
  const drafts = entryCount(context?.draftOrders);
  if (drafts > limits.maxDraftOrders) {
    throw tooLarge(
      `context.draftOrders holds ${drafts} orders; this service accepts at most ${limits.maxDraftOrders} (CDS_MAX_DRAFT_ORDERS)`,
      'context.draftOrders',
    );
  }
  if (typeof prefetch !== 'object' || prefetch === null) return;
  const resources = Object.values(prefetch).reduce<number>((sum, value) => sum + entryCount(value), 0);
  if (resources > limits.maxPrefetchResources) {
    throw tooLarge(
      `prefetch holds ${resources} resources; this service accepts at most ${limits.maxPrefetchResources} (CDS_MAX_PREFETCH_RESOURCES)`,
      'prefetch',
    );
  }
}
