import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hookResponseSchema } from '../cds/card-schema.js';
import type { HookResponse } from '../cds/card-schema.js';
import { callHook, serviceForHook } from '../cds/hook-call.js';
import type { FhirAccessPolicy } from '../cds/fhir-access.js';
import { ServiceError } from '../errors.js';
import { isRecord } from '../fhir/tolerant.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { EXIT } from './exit-codes.js';
import { differences, expectedFileFor } from './expectations.js';
import type { CheckOutcome } from './expectations.js';
import { printCards } from './print-cards.js';
import { requestFromBundle } from '../cds/request-from-bundle.js';
import type { Hook } from '../cds/request-from-bundle.js';
import { withoutTrailingSlashes } from '../fhir/strings.js';
import type { TokenFor } from './client-token.js';

export interface CheckOptions {
  hook: Hook;
  /** A running service's base URL; without it the rules run in this process. */
  url?: string;
  /** The bearer token for a call to --url: a fixed one (--token) or one signed per call (--sign-with). */
  tokenFor?: TokenFor;
  /** Sets the request's fhirServer (and fills a FHIR_SERVER placeholder). */
  fhirServer?: string;
  /** How the rules in this process read a FHIR server: the service's own limits (CDS_FHIR_*), http allowed. */
  fhir: FhirAccessPolicy;
  /** Compare each file's cards with its `<name>.expected.json`. */
  expect: boolean;
  json: boolean;
  color: boolean;
  /** The clinical "now" for look-back windows (fixtures are dated); default: the real time. */
  now?: Date;
}

/** A file as a hook request: used as it is when it is one, built from it when it is a Bundle. */
function hookRequestFromFile(path: string, options: Pick<CheckOptions, 'hook' | 'fhirServer'>, catalogue: Catalogue): Record<string, unknown> {
  let text = readFileSync(path, 'utf8');
  if (options.fhirServer) text = text.replaceAll('FHIR_SERVER', options.fhirServer);
  const json = JSON.parse(text) as unknown;
  if (!isRecord(json)) throw new Error('is neither a hook request nor a FHIR Bundle');
  const request = json.resourceType === 'Bundle' ? requestFromBundle(json, options.hook, catalogue) : json;
  if (typeof request.hook !== 'string' || !isRecord(request.context)) throw new Error('is neither a hook request nor a FHIR Bundle');
  return options.fhirServer ? { ...request, fhirServer: options.fhirServer } : request;
}

/** "fetch failed" says nothing: the cause (ECONNREFUSED, ENOTFOUND, a certificate …) says what to fix. */
function unreachable(url: string, error: unknown): Error {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail = typeof cause?.message === 'string' ? cause.message : (error as Error).message;
  return new Error(`cannot reach ${url}: ${code && !detail.includes(code) ? `${code} (${detail})` : detail}`);
}

async function callService(url: string, request: Record<string, unknown>, options: CheckOptions, serviceId: string): Promise<CheckOutcome> {
  const endpoint = `${withoutTrailingSlashes(url)}/cds-services/${serviceId}`;
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(options.tokenFor ? { Authorization: `Bearer ${options.tokenFor(endpoint)}` } : {}) },
      body: JSON.stringify(request),
    });
  } catch (error) {
    throw unreachable(endpoint, error);
  }
  const text = await res.text();
  if (res.ok) return { status: res.status, serviceId, response: hookResponseSchema.parse(JSON.parse(text)) };
  if (options.expect) return { status: res.status, serviceId };
  const hint = res.status === 401 ? ' (an authenticated service: give --token, or --sign-with KEY --iss ISS)' : '';
  throw new Error(`the service answered HTTP ${String(res.status)}${hint}: ${text.slice(0, 2000)}`);
}

async function evaluate(request: Record<string, unknown>, options: CheckOptions, catalogue: Catalogue): Promise<CheckOutcome> {
  const serviceId = serviceForHook(catalogue, request.hook);
  if (options.url) return callService(options.url, request, options, serviceId);
  try {
    const result = await callHook(serviceId, request, {
      catalogue,
      publicUrl: 'http://localhost:3000',
      fhir: options.fhir,
      now: () => options.now ?? new Date(),
      newId: randomUUID,
    });
    return { status: 200, serviceId, response: result.response };
  } catch (error) {
    // What the service would answer with a 4xx: a fixture may expect exactly that.
    if (error instanceof ServiceError && options.expect) return { status: error.status, serviceId };
    throw error;
  }
}

/** The expected file's JSON, or undefined (and a message) when there is none to compare with. */
function readExpected(file: string): { expected?: unknown; problem?: string } {
  const path = expectedFileFor(file);
  try {
    return { expected: JSON.parse(readFileSync(path, 'utf8')) as unknown };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? `no ${path} to compare with` : `${path} is not readable JSON (${(error as Error).message})` };
  }
}

/**
 * Checks each file and prints its cards; resolves to the exit code: 1 when a file fails (or, with
 * --expect, differs from its expected file), else 3 when any card is critical, else 0.
 */
export async function check(
  files: readonly string[],
  options: CheckOptions,
  catalogue: Catalogue,
  out: (text: string) => void,
  err: (text: string) => void = out,
): Promise<number> {
  let critical = false;
  let failed = false;
  const responses: Record<string, HookResponse> = {};
  let agreed = 0;
  for (const file of files) {
    try {
      const request = hookRequestFromFile(file, options, catalogue);
      const outcome = await evaluate(request, options, catalogue);
      if (outcome.response) {
        responses[file] = outcome.response;
        if (outcome.response.cards.some((c) => c.indicator === 'critical')) critical = true;
      }
      if (options.expect) {
        const { expected, problem } = readExpected(file);
        const found = problem ? [problem] : differences(expected, outcome);
        if (found.length > 0) {
          failed = true;
          err(`${file}: not as expected\n${found.map((d) => `  - ${d}`).join('\n')}`);
        } else {
          agreed += 1;
          if (!options.json) out(`${file}: as expected`);
        }
      } else if (!options.json && outcome.response) {
        out(`${printCards(`${file} (${String(request.hook)})`, outcome.response.cards, options.color)}\n`);
      }
    } catch (error) {
      failed = true;
      err(`${file}: ${(error as Error).message}`);
    }
  }
  if (options.expect && !options.json) out(`${String(agreed)} of ${String(files.length)} as expected`);
  if (options.json) out(JSON.stringify(files.length === 1 ? (Object.values(responses)[0] ?? {}) : responses, null, 2));
  if (failed) return EXIT.failed;
  // Comparing is the job with --expect: a critical card that was expected is a pass.
  return critical && !options.expect ? EXIT.critical : EXIT.ok;
}
