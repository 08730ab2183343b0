import { ServiceError } from '../errors.js';
import { bundleEntries } from '../fhir/bundle.js';
import type { FhirClientOptions } from '../fhir/fhir-client.js';
import { asAnyResource, isRecord, isResource } from '../fhir/tolerant.js';
import type { AnyResource } from '../fhir/tolerant.js';
import { evaluate } from '../rules/evaluate.js';
import { findGlutamineOrders, findUnreadableDrafts } from '../rules/glutamine-orders.js';
import type { GlutamineOrder } from '../rules/glutamine-orders.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { MedicationLookup } from '../rules/medication-lookup.js';
import type { PatientRecord } from '../rules/patient-record.js';
import type { Card, HookResponse } from './card-schema.js';
import { buildCards, cardFindings } from './cards.js';
import { fhirAccess } from './fhir-access.js';
import type { FhirAccess, FhirAccessPolicy } from './fhir-access.js';
import { fetchMedications, gatherPatientRecord, unresolvedMedicationReferences } from './patient-data.js';
import { prefetchedMedications } from './prefetch.js';
import { DEFAULT_INPUT_LIMITS, checkHookRequestSize } from './input-limits.js';
import type { InputLimits } from './input-limits.js';
import { parseHookRequest } from './request-schema.js';
import type { HookRequest } from './request-schema.js';
import { configuredFindings, limitCards, readClientConfiguration, withCounselling, withSuppressed } from './client-configuration.js';
import type { ClientConfiguration } from './client-configuration.js';

export interface HookCallDeps {
  catalogue: Catalogue;
  /** Size limits of a request; the defaults when not given. */
  limits?: InputLimits;
  publicUrl: string;
  fhir: FhirAccessPolicy;
  /** The clinical "now": look-back windows and ages are measured from it. */
  now: () => Date;
  newId: () => string;
  /** Told about every request to a FHIR server (metrics). */
  observeFetch?: FhirClientOptions['observe'];
  /** Told when the EHR's FHIR server is refused by policy (http, not allowed, credentials): nothing is fetched. */
  observeRefusal?: () => void;
  /** Tracing of each FHIR request (and the W3C traceparent it carries). */
  traceFetch?: FhirClientOptions['trace'];
}

/** Elapsed-time clock for the fetch budget (not the clinical clock, which tests fix). */
const monotonic = (): number => performance.now();

/** Milliseconds spent per stage of a hook call. */
export type StageTimings = Record<'parse' | 'data' | 'rules' | 'render', number>;

/** What a hook call produced, with the facts the request log may carry (ids, never patient data). */
export interface HookCallResult {
  response: HookResponse;
  hookInstance: string;
  hook: string;
  ruleIds: string[];
  /**
   * Milliseconds per stage: parse (envelope and order detection, including reading a draft's
   * Medication from the FHIR server when only it names the product), data (prefetch, fetches),
   * rules, render (cards).
   */
  stages: StageTimings;
  /** Configuration options the request set that the service does not know (logged by name). */
  ignoredConfiguration: string[];
  /** The request's configuration, for what follows the hook call (repeat suppression). */
  configuration: ClientConfiguration;
  /** Who and what the call is about, for repeat suppression (never logged or stored as such). */
  subject: { userId?: string | undefined; patientId: string; encounterId?: string | undefined; extension?: unknown };
  /**
   * What each checked order is, for repeat suppression: by the reference the cards name it with
   * (`glutamine-cds.order`), its product and dose — so that a changed dose is a new order.
   */
  orderSignatures: Record<string, string>;
}

/** The service of cards/services.json for a hook (the CLI and the preview pick by hook, not by id). */
export function serviceForHook(catalogue: Catalogue, hook: unknown): string {
  const service = catalogue.services.find((s) => s.hook === hook) ?? catalogue.services.find((s) => s.hook === 'order-sign');
  if (!service) throw new ServiceError('ERR_UNKNOWN_SERVICE', `No CDS service for the hook '${String(hook)}'`);
  return service.id;
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
function assertSomeDataAvailable(record: PatientRecord, catalogue: Catalogue, access: FhirAccess): void {
  const used = new Set([...catalogue.ruleRequirements.values()].flat());
  const needed = catalogue.data.filter((r) => used.has(r) && r.resourceType !== 'Patient');
  const missing = needed.filter((r) => record.status.get(r.key)?.state === 'unavailable');
  if (needed.length > 0 && missing.length === needed.length) {
    const why =
      access.kind === 'none'
        ? 'and the EHR sent no fhirServer to fetch them from'
        : access.kind === 'refused'
          ? `and they were not fetched: ${access.reason}`
          : 'and fetching them from the FHIR server failed';
    throw new ServiceError(
      'ERR_PREFETCH_UNAVAILABLE',
      `None of the patient data the checks need could be had: prefetch ${missing.map((r) => `'${r.key}'`).join(', ')} missing or failed, ${why}`,
    );
  }
}

/**
 * The orders a call is about. order-select and order-sign: the drafts of `context.draftOrders`.
 * medication-verify: the one signed MedicationRequest, which the hook library's draft names
 * `context.medication` in its table and sends as `context.order.resource` in its examples.
 */
function orderEntries(hook: string, context: HookRequest['context']): Array<{ fullUrl?: string; resource: AnyResource }> {
  if (hook === 'medication-verify') {
    const order = context.order;
    const verified = context.medication ?? (isRecord(order) ? order.resource : undefined);
    if (!isResource(verified)) {
      const message = 'context.medication is required: the MedicationRequest being verified (or context.order.resource)';
      throw new ServiceError('ERR_BAD_REQUEST', message, [{ path: 'context.medication', message }]);
    }
    return [{ resource: verified }];
  }
  if (context.draftOrders === undefined) {
    throw new ServiceError('ERR_BAD_REQUEST', 'context.draftOrders is required', [{ path: 'context.draftOrders', message: 'context.draftOrders is required' }]);
  }
  return bundleEntries(context.draftOrders);
}

function subjectOf(request: HookRequest): HookCallResult['subject'] {
  const { userId, patientId, encounterId } = request.context;
  return { userId, patientId, encounterId, extension: request.extension };
}

/** An order's product and dose, as the repeat check compares them. */
function orderSignature(order: GlutamineOrder): string {
  const dose = order.request.resourceType === 'MedicationRequest' ? order.request.dosageInstruction : order.request.supplement;
  return JSON.stringify([order.product.name ?? '', order.product.texts, dose ?? null]);
}

/** The rules the cards carry, each once (a merged card carries several). */
function ruleIdsOf(cards: readonly Card[]): string[] {
  return [...new Set(cards.flatMap((c) => cardFindings(c).map((f) => f.rule)))];
}

/** One hook call: envelope → glutamine orders → patient data → rules → cards. No HTTP here. */
export async function callHook(serviceId: string, body: unknown, deps: HookCallDeps): Promise<HookCallResult> {
  const started = monotonic();
  const service = findService(deps.catalogue, serviceId);
  checkHookRequestSize(body, deps.limits ?? DEFAULT_INPUT_LIMITS);
  const request = parseHookRequest(body);
  if (request.hook !== service.hook) {
    throw new ServiceError('ERR_HOOK_MISMATCH', `Service '${service.id}' answers the '${service.hook}' hook, not '${request.hook}'`, [
      { path: 'hook', message: `hook must be '${service.hook}' for this service` },
    ]);
  }
  // Read first: a wrong option type is a 400 before any work is done.
  const configuration = readClientConfiguration(request.extension);
  const draftEntries = orderEntries(service.hook, request.context);
  const drafts = draftEntries.map((e) => e.resource);
  const prefetch = request.prefetch ?? undefined;
  const lookup = new MedicationLookup().add(draftEntries).add(prefetchedMedications(prefetch));
  const access = fhirAccess(request.fhirServer, request.fhirAuthorization, deps.fhir, monotonic, {
    ...(deps.observeFetch ? { observe: deps.observeFetch } : {}),
    ...(deps.traceFetch ? { trace: deps.traceFetch } : {}),
  });
  if (access.kind === 'refused') deps.observeRefusal?.();
  // A draft may name its product only by a Medication on the EHR's server: fetch it before deciding.
  const unreadableMedications = await fetchMedications(unresolvedMedicationReferences(drafts, lookup), access, lookup);
  // order-select evaluates only the selected orders; order-sign every order (hook library 1.0.1).
  const selections = service.hook === 'order-select' ? request.context.selections : undefined;
  const orders = findGlutamineOrders(drafts, selections, deps.catalogue, lookup);
  // A draft whose product could not be read may be glutamine: said, never silence (revision 2, item 29).
  const unreadable = findUnreadableDrafts(drafts, selections, lookup).map((d) => ({
    ...d,
    why: unreadableMedications.get(d.medication) ?? 'it could not be resolved',
  }));
  const cardContext = { catalogue: deps.catalogue, orders, publicUrl: deps.publicUrl, newId: deps.newId, signedOrder: service.hook === 'medication-verify' };
  const parsed = monotonic();
  if (orders.length === 0) {
    const cards = buildCards([], [], cardContext, unreadable);
    return {
      response: { cards },
      hookInstance: request.hookInstance,
      hook: request.hook,
      ruleIds: ruleIdsOf(cards),
      stages: { parse: parsed - started, data: 0, rules: 0, render: 0 },
      ignoredConfiguration: configuration.ignored,
      configuration,
      subject: subjectOf(request),
      orderSignatures: {},
    };
  }

  const { patientId, userId, encounterId } = request.context;
  const tokens = {
    'context.patientId': patientId,
    ...(userId ? { 'context.userId': userId } : {}),
    ...(encounterId ? { 'context.encounterId': encounterId } : {}),
  };
  const clinicalNow = deps.now().getTime();
  const record = await gatherPatientRecord({
    requirements: deps.catalogue.data,
    analytes: deps.catalogue.analytes,
    prefetch,
    access,
    tokens,
    medications: lookup,
    clinicalNow,
  });
  await fetchMedications(
    unresolvedMedicationReferences([...record.medicationRequests, ...record.medicationStatements].map(asAnyResource), lookup),
    access,
    lookup,
  );
  assertSomeDataAvailable(record, deps.catalogue, access);
  const gathered = monotonic();
  const { findings, gaps } = evaluate({ catalogue: deps.catalogue, orders, drafts, record, now: clinicalNow });
  const evaluated = monotonic();
  const built = buildCards(configuredFindings(findings, configuration, deps.catalogue), gaps, cardContext, unreadable);
  const { shown: cards, left } = limitCards(configuration.counselling ? withCounselling(built, deps.catalogue.counsellingLine) : built, configuration.maxCards);
  const rendered = monotonic();
  return {
    response: { cards, ...(left.length > 0 ? { extension: withSuppressed(undefined, 'max-cards', left) } : {}) },
    hookInstance: request.hookInstance,
    hook: request.hook,
    ruleIds: ruleIdsOf(cards),
    stages: { parse: parsed - started, data: gathered - parsed, rules: evaluated - gathered, render: rendered - evaluated },
    ignoredConfiguration: configuration.ignored,
    configuration,
    subject: subjectOf(request),
    orderSignatures: Object.fromEntries(orders.map((o) => [o.reference ?? o.name, orderSignature(o)])),
  };
}
