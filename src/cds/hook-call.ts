import { ServiceError } from '../errors.js';
import { bundleEntries } from '../fhir/bundle.js';
import { evaluate } from '../rules/evaluate.js';
import { findGlutamineOrders } from '../rules/glutamine-orders.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { MedicationLookup } from '../rules/medication-lookup.js';
import type { PatientRecord } from '../rules/patient-record.js';
import type { HookResponse } from './card-schema.js';
import { buildCards } from './cards.js';
import { prefetchEntries, recordFromPrefetch } from './prefetch.js';
import { parseHookRequest } from './request-schema.js';

export interface HookCallDeps {
  catalogue: Catalogue;
  publicUrl: string;
  now: () => Date;
  newId: () => string;
}

/** What a hook call produced, with the facts the request log may carry (ids, never patient data). */
export interface HookCallResult {
  response: HookResponse;
  hookInstance: string;
  ruleIds: string[];
}

export function findService(catalogue: Catalogue, serviceId: string) {
  const service = catalogue.services.find((s) => s.id === serviceId);
  if (!service) throw new ServiceError('ERR_UNKNOWN_SERVICE', `No CDS service with id '${serviceId}'`);
  return service;
}

/**
 * CDS Hooks 2.0: SHALL answer 412 when the data the service requires cannot be had. Here that is
 * when every clinical data requirement some rule depends on is unavailable (demographics alone
 * cannot be checked against anything); data known to be empty (`null`) or only partly received
 * still lets the rules run.
 */
function assertSomeDataAvailable(record: PatientRecord, catalogue: Catalogue): void {
  const used = new Set([...catalogue.ruleRequirements.values()].flat());
  const needed = catalogue.data.filter((r) => used.has(r) && r.resourceType !== 'Patient');
  const missing = needed.filter((r) => record.status.get(r.key)?.state === 'unavailable');
  if (needed.length > 0 && missing.length === needed.length) {
    throw new ServiceError(
      'ERR_PREFETCH_UNAVAILABLE',
      `None of the patient data the checks need was provided: prefetch ${missing.map((r) => `'${r.key}'`).join(', ')} missing or failed, and this service does not query the FHIR server`,
    );
  }
}

/** One hook call: envelope → glutamine orders → patient data → rules → cards. No HTTP here. */
export function callHook(serviceId: string, body: unknown, deps: HookCallDeps): HookCallResult {
  const service = findService(deps.catalogue, serviceId);
  const request = parseHookRequest(body);
  if (request.hook !== service.hook) {
    throw new ServiceError('ERR_HOOK_MISMATCH', `Service '${service.id}' answers the '${service.hook}' hook, not '${request.hook}'`, [
      { path: 'hook', message: `hook must be '${service.hook}' for this service` },
    ]);
  }
  const draftEntries = bundleEntries(request.context.draftOrders);
  const drafts = draftEntries.map((e) => e.resource);
  const prefetch = request.prefetch ?? undefined;
  const lookup = new MedicationLookup().add(draftEntries).add(prefetchEntries(prefetch));
  // order-select evaluates only the selected orders; order-sign every order (hook library 1.0.1).
  const selections = service.hook === 'order-select' ? request.context.selections : undefined;
  const orders = findGlutamineOrders(drafts, selections, deps.catalogue, lookup);
  if (orders.length === 0) return { response: { cards: [] }, hookInstance: request.hookInstance, ruleIds: [] };

  const record = recordFromPrefetch(deps.catalogue.data, prefetch, lookup);
  assertSomeDataAvailable(record, deps.catalogue);
  const { findings, gaps } = evaluate({ catalogue: deps.catalogue, orders, drafts, record, now: deps.now().getTime() });
  const cards = buildCards(findings, gaps, { catalogue: deps.catalogue, orders, publicUrl: deps.publicUrl, newId: deps.newId });
  const ruleIds = [...new Set(cards.map((c) => c.source.topic?.code).filter((id): id is string => id !== undefined))];
  return { response: { cards }, hookInstance: request.hookInstance, ruleIds };
}
