import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hookResponseSchema } from '../cds/card-schema.js';
import type { HookResponse } from '../cds/card-schema.js';
import { callHook, serviceForHook } from '../cds/hook-call.js';
import { isRecord } from '../fhir/tolerant.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { EXIT } from './exit-codes.js';
import { printCards } from './print-cards.js';
import { requestFromBundle } from '../cds/request-from-bundle.js';
import type { Hook } from '../cds/request-from-bundle.js';
import { withoutTrailingSlashes } from '../fhir/strings.js';

export interface CheckOptions {
  hook: Hook;
  /** A running service's base URL; without it the rules run in this process. */
  url?: string;
  /** Sets the request's fhirServer (and fills a FHIR_SERVER placeholder). */
  fhirServer?: string;
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

async function evaluate(request: Record<string, unknown>, options: CheckOptions, catalogue: Catalogue): Promise<HookResponse> {
  const serviceId = serviceForHook(catalogue, request.hook);
  if (options.url) {
    const res = await fetch(`${withoutTrailingSlashes(options.url)}/cds-services/${serviceId}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`the service answered HTTP ${res.status}: ${JSON.stringify(body)}`);
    return hookResponseSchema.parse(body);
  }
  const result = await callHook(serviceId, request, {
    catalogue,
    publicUrl: 'http://localhost:3000',
    // A developer tool: local http FHIR servers are fine here.
    fhir: { timeoutMs: 2000, budgetMs: 3000, allowHttp: true, maxPages: 10, maxResponseBytes: 5 * 1024 * 1024 },
    now: () => options.now ?? new Date(),
    newId: randomUUID,
  });
  return result.response;
}

/** Checks each file and prints its cards; resolves to the exit code (1 when a file fails, else 3 when any card is critical). */
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
  for (const file of files) {
    try {
      const request = hookRequestFromFile(file, options, catalogue);
      const response = await evaluate(request, options, catalogue);
      responses[file] = response;
      if (response.cards.some((c) => c.indicator === 'critical')) critical = true;
      if (!options.json) out(`${printCards(`${file} (${String(request.hook)})`, response.cards, options.color)}\n`);
    } catch (error) {
      failed = true;
      err(`${file}: ${(error as Error).message}`);
    }
  }
  if (options.json) out(JSON.stringify(files.length === 1 ? (Object.values(responses)[0] ?? {}) : responses, null, 2));
  return failed ? EXIT.failed : critical ? EXIT.critical : EXIT.ok;
}
