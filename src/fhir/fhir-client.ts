import { bundleEntries, isErrorOutcome, nextLink } from './bundle.js';
import { isResource } from './tolerant.js';
import type { AnyResource } from './tolerant.js';
import { wording } from '../errors.js';

/**
 * A small read-only FHIR REST client over Node's fetch: read and search (following `next` links),
 * with a per-request timeout inside an overall deadline, a response size cap, and the bearer token
 * sent to the FHIR server's own origin only. It never throws: every call says what it got or why not.
 */

export interface FhirClientOptions {
  /** The EHR's FHIR base URL (`fhirServer`), already checked against the server policy. */
  baseUrl: string;
  /** `fhirAuthorization.access_token`; absent for open servers such as the Sandbox's. */
  accessToken?: string;
  timeoutMs: number;
  /** The whole budget `deadline` was set from, named when it runs out. */
  budgetMs: number;
  /** Epoch ms after which no request is started and running ones are cut short. */
  deadline: number;
  maxPages: number;
  maxResponseBytes: number;
  /** Most requests one hook call may make (its client's lifetime); beyond, they are refused. */
  maxRequests?: number;
  /** Most requests in flight at once (sockets to the EHR). */
  maxInFlight?: number;
  now: () => number;
  /** Told the duration (seconds) and outcome of every request made, for metrics. */
  observe?: (seconds: number, outcome: FetchOutcome) => void;
  /** Told when each request starts (tracing): the headers it adds (W3C traceparent), and its end. */
  trace?: (resourceType: string) => FetchSpan;
}

export type FetchOutcome = 'ok' | 'http_error' | 'timeout' | 'unreachable' | 'invalid';

/** One request to the FHIR server as tracing sees it: named by resource type only, never by id or query. */
export interface FetchSpan {
  headers: Record<string, string>;
  end: (outcome: FetchOutcome, status?: number) => void;
}

/**
 * Why a request got nothing: an HTTP error (`status`), the server's own timeout, the service's time
 * budget running out, no connection, a URL not on the server, an answer too large or not FHIR, or
 * the server saying it does not support the query (400/404/405 with an OperationOutcome saying so).
 */
export type FetchFailureKind = 'http' | 'timeout' | 'budget' | 'unreachable' | 'refused' | 'too-large' | 'invalid' | 'unsupported';
export interface FetchFailure {
  ok: false;
  kind: FetchFailureKind;
  status?: number;
  /** For people (card text, never for control flow). */
  reason: string;
}
/** Why a search stopped early: the page cap, or a later page that could not be used. */
export type Truncation = 'page-cap' | 'bad-page';
export type Fetched<T> = { ok: true; value: T; complete: boolean; truncated?: Truncation; note?: string } | FetchFailure;

function failure(kind: FetchFailureKind, reason: string, status?: number): FetchFailure {
  return { ok: false, kind, reason: wording(reason), ...(status !== undefined ? { status } : {}) };
}

/** A FHIR server's way of saying "I do not do that": 405, or 400/404 with an OperationOutcome saying not supported. */
function saysNotSupported(status: number, body: unknown): boolean {
  if (status === 405) return true;
  if ((status !== 400 && status !== 404) || !isResource(body) || body.resourceType !== 'OperationOutcome') return false;
  const issues = Array.isArray(body.issue) ? (body.issue as unknown[]) : [];
  return issues.some((issue) => {
    const { code, diagnostics, details } = (issue ?? {}) as { code?: unknown; diagnostics?: unknown; details?: { text?: unknown } };
    const text = [diagnostics, details?.text]
      .filter((t): t is string => typeof t === 'string')
      .join(' ')
      .slice(0, 1000);
    return code === 'not-supported' || /not supported|unsupported|unknown resource type/i.test(text);
  });
}

/** Defaults of the outbound caps: a hook call is a handful of searches, never thousands. */
export const DEFAULT_MAX_REQUESTS = 50;
const DEFAULT_MAX_IN_FLIGHT = 8;

export class FhirClient {
  private readonly base: URL;
  private requests = 0;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly options: FhirClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  }

  /** A URL relative to the FHIR base (`Condition?patient=1`, `Medication/abc`). */
  resolve(relative: string): URL {
    return new URL(relative.replace(/^\/+/, ''), this.base);
  }

  /** Whether an absolute URL is on this FHIR server (same origin, under the base path). */
  isOnServer(url: URL): boolean {
    return url.origin === this.base.origin && url.pathname.startsWith(this.base.pathname);
  }

  /** Reads one resource, by a path relative to the base or an absolute URL on this server. */
  async read(target: string | URL): Promise<Fetched<AnyResource>> {
    const got = await this.getJson(typeof target === 'string' ? this.resolve(target) : target);
    if (!got.ok) return got;
    return isResource(got.value)
      ? { ok: true, value: got.value, complete: true }
      : failure('invalid', 'the FHIR server answered with something that is not a FHIR resource');
  }

  /** A search: every matching resource of every page, up to the page cap. */
  async search(relative: string): Promise<Fetched<AnyResource[]>> {
    const first = await this.getJson(this.resolve(relative));
    if (!first.ok) return first;
    if (!isResource(first.value) || first.value.resourceType !== 'Bundle') {
      return failure('invalid', 'the FHIR server answered a search with something that is not a Bundle');
    }
    return this.collectPages(first.value, 1);
  }

  /** The rest of a paginated Bundle someone else fetched (a prefetch), following its `next` links. */
  async remainingPages(bundle: AnyResource): Promise<Fetched<AnyResource[]>> {
    const rest = await this.collectPages(bundle, 0);
    if (!rest.ok) return rest;
    const firstPage = new Set(bundleEntries(bundle).map((e) => e.resource));
    return { ...rest, value: rest.value.filter((r) => !firstPage.has(r)) };
  }

  private async collectPages(firstPage: AnyResource, pagesFetched: number): Promise<Fetched<AnyResource[]>> {
    const resources: AnyResource[] = [];
    let page: AnyResource = firstPage;
    let fetched = pagesFetched;
    for (;;) {
      const entries = bundleEntries(page).map((e) => e.resource);
      if (entries.some(isErrorOutcome)) return failure('invalid', 'the FHIR server reported an error in its search results');
      resources.push(...entries);
      const next = nextLink(page);
      if (!next) return { ok: true, value: resources, complete: true };
      if (fetched >= this.options.maxPages) {
        return {
          ok: true,
          value: resources,
          complete: false,
          truncated: 'page-cap',
          note: `only the first ${this.options.maxPages} pages of results were read`,
        };
      }
      let url: URL;
      try {
        url = new URL(next, this.base);
      } catch {
        return { ok: true, value: resources, complete: false, truncated: 'bad-page', note: 'a next-page link could not be read' };
      }
      // The token goes to the FHIR server only: a next link elsewhere is not followed at all.
      if (!this.isOnServer(url))
        return { ok: true, value: resources, complete: false, truncated: 'bad-page', note: 'a next-page link pointed to another server and was not followed' };
      const got = await this.getJson(url);
      fetched += 1;
      if (!got.ok) return { ok: true, value: resources, complete: false, truncated: 'bad-page', note: `a later page could not be read (${got.reason})` };
      if (!isResource(got.value) || got.value.resourceType !== 'Bundle') {
        return { ok: true, value: resources, complete: false, truncated: 'bad-page', note: 'a later page was not a Bundle' };
      }
      page = got.value;
    }
  }

  private async getJson(url: URL): Promise<{ ok: true; value: unknown } | FetchFailure> {
    if (!this.isOnServer(url)) return failure('refused', 'the URL is not on the FHIR server');
    const maxRequests = this.options.maxRequests ?? DEFAULT_MAX_REQUESTS;
    if (this.requests >= maxRequests) return failure('refused', `not fetched: the limit of ${maxRequests} FHIR requests per hook call was reached`);
    this.requests += 1;
    await this.slot();
    try {
      const started = this.options.now();
      const span = this.options.trace?.(this.resourceTypeOf(url));
      const result = await this.fetchJson(url, span?.headers ?? {});
      span?.end(result.outcome, result.status);
      this.options.observe?.((this.options.now() - started) / 1000, result.outcome);
      return result.got;
    } finally {
      this.releaseSlot();
    }
  }

  /** Waits for one of the maxInFlight slots. */
  private slot(): Promise<void> {
    if (this.inFlight < (this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)) {
      this.inFlight += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight -= 1;
  }

  /** The resource type a URL reads (`Condition` of `…/Condition?patient=…`), for naming spans. */
  private resourceTypeOf(url: URL): string {
    const segment = url.pathname.slice(new URL(this.options.baseUrl).pathname.replace(/\/$/, '').length + 1).split('/')[0] ?? '';
    return /^[A-Z][A-Za-z]{1,63}$/.test(segment) ? segment : 'unknown';
  }

  private async fetchJson(
    url: URL,
    traceHeaders: Record<string, string>,
  ): Promise<{ outcome: FetchOutcome; status?: number; got: { ok: true; value: unknown } | FetchFailure }> {
    const remaining = this.options.deadline - this.options.now();
    const budgetRanOut = failure('budget', `the service's time budget (${this.options.budgetMs} ms) ran out`);
    if (remaining <= 0) return { outcome: 'timeout', got: budgetRanOut };
    // Whole milliseconds: the wait is reported in card text. When what is left of the budget is
    // shorter than the per-request timeout, it is the budget that ends the wait (revision 2, item 31).
    const byBudget = remaining < this.options.timeoutMs;
    const timeout = Math.round(byBudget ? remaining : this.options.timeoutMs);
    const headers: Record<string, string> = { ...traceHeaders, Accept: 'application/fhir+json, application/json' };
    if (this.options.accessToken) headers.Authorization = `Bearer ${this.options.accessToken}`;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort();
    }, timeout);
    try {
      const response = await fetch(url, { headers, signal: controller.signal, redirect: 'error' });
      if (!response.ok) {
        // A small error body may say the query is not supported (a data source the server lacks).
        const text = await readCapped(response, 64 * 1024);
        const body = text === undefined ? undefined : parseJson(text);
        const kind = saysNotSupported(response.status, body) ? 'unsupported' : 'http';
        return {
          outcome: 'http_error',
          status: response.status,
          got: failure(kind, `the FHIR server answered HTTP ${response.status}${kind === 'unsupported' ? ' (not supported)' : ''}`, response.status),
        };
      }
      const text = await readCapped(response, this.options.maxResponseBytes);
      if (text === undefined)
        return { outcome: 'invalid', got: failure('too-large', `the FHIR server's answer was larger than ${this.options.maxResponseBytes} bytes`) };
      const value = parseJson(text);
      return value === undefined
        ? { outcome: 'invalid', status: response.status, got: failure('invalid', 'the FHIR server answered with invalid JSON') }
        : { outcome: 'ok', status: response.status, got: { ok: true, value } };
    } catch {
      if (!controller.signal.aborted) return { outcome: 'unreachable', got: failure('unreachable', 'the FHIR server could not be reached') };
      return { outcome: 'timeout', got: byBudget ? budgetRanOut : failure('timeout', `the FHIR server did not answer within ${timeout} ms`) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The body as text, or undefined once it passes `max` bytes (the read is then cancelled). */
async function readCapped(response: Response, max: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
