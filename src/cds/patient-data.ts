import type { MedicationRequest, MedicationStatement } from 'fhir/r4';
import { DAY_MS } from '../fhir/dates.js';
import type { FhirClient, Truncation } from '../fhir/fhir-client.js';
import { resourceOf } from '../fhir/tolerant.js';
import type { AnyResource } from '../fhir/tolerant.js';
import type { Analyte } from '../rules/catalogue-schema.js';
import type { DataRequirement } from '../rules/load-catalogue.js';
import type { MedicationLookup } from '../rules/medication-lookup.js';
import type { PatientRecord } from '../rules/patient-record.js';
import type { FhirAccess } from './fhir-access.js';
import { fillTemplate } from '../fhir/prefetch-template.js';
import type { TokenValues } from '../fhir/prefetch-template.js';
import { assembleRecord, readPrefetch } from './prefetch.js';
import type { KeyResult } from './prefetch.js';

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The query the service runs itself for a requirement: its prefetch template, narrowed further where
 * FHIR allows — labs by date (`date=ge` the start of the look-back window) — and asked in large pages.
 */
function fetchQuery(requirement: DataRequirement, tokens: TokenValues, analytes: ReadonlyMap<string, Analyte>, clinicalNow: number): string | undefined {
  const filled = fillTemplate(requirement.template, tokens);
  if (filled === undefined || !filled.includes('?')) return filled;
  const analyte = requirement.analyte ? analytes.get(requirement.analyte) : undefined;
  const since = analyte ? `&date=ge${isoDate(clinicalNow - analyte.lookbackDays * DAY_MS)}` : '';
  return `${filled}${since}&_count=100`;
}

/**
 * A lab search sorted newest first that stopped at the page cap has read the newest result, which is
 * the one that decides: nothing was missed (clinical-spec revision 2, item 30).
 */
function capCannotMatter(requirement: DataRequirement, truncated: Truncation | undefined): boolean {
  return truncated === 'page-cap' && requirement.analyte !== undefined && /[?&]_sort=-date(?:&|$)/.test(requirement.template);
}

/** Fetches a requirement the prefetch did not give; `before` says why the prefetch was not enough. */
async function fetchRequirement(requirement: DataRequirement, query: string | undefined, client: FhirClient, before: string): Promise<KeyResult> {
  if (query === undefined) return { status: { state: 'unavailable', reason: `${before}, and its query needs a value this call did not give` }, resources: [] };
  if (!query.includes('?')) {
    const read = await client.read(query);
    if (read.ok) return { status: { state: 'available' }, resources: [read.value] };
    // A read that finds nothing is "no data", as a prefetch null would be.
    if (read.kind === 'http' && read.status === 404) return { status: { state: 'empty' }, resources: [] };
    return { status: { state: 'unavailable', reason: `${before}, and fetching it failed: ${read.reason}`, cause: read.kind }, resources: [] };
  }
  const found = await client.search(query);
  if (!found.ok) return { status: { state: 'unavailable', reason: `${before}, and fetching it failed: ${found.reason}`, cause: found.kind }, resources: [] };
  const wanted = found.value.filter((r) => r.resourceType === requirement.resourceType);
  if (!found.complete && !capCannotMatter(requirement, found.truncated))
    return { status: { state: 'partial', reason: found.note ?? 'not all results were read' }, resources: wanted };
  return { status: { state: wanted.length > 0 ? 'available' : 'empty' }, resources: wanted };
}

async function continuePrefetch(result: KeyResult, requirement: DataRequirement, client: FhirClient): Promise<KeyResult> {
  if (!result.continueFrom) return result;
  const rest = await client.remainingPages(result.continueFrom);
  if (!rest.ok)
    return {
      ...result,
      status: { state: 'partial', reason: `only the first page was received; the next could not be fetched (${rest.reason})`, cause: rest.kind },
    };
  const resources = [...result.resources, ...rest.value];
  if (!rest.complete && !capCannotMatter(requirement, rest.truncated))
    return { status: { state: 'partial', reason: rest.note ?? 'not all pages were read' }, resources };
  return { status: { state: resources.length > 0 ? 'available' : 'empty' }, resources };
}

export interface GatherInput {
  requirements: readonly DataRequirement[];
  analytes: ReadonlyMap<string, Analyte>;
  prefetch: Record<string, unknown> | undefined;
  access: FhirAccess;
  tokens: TokenValues;
  medications: MedicationLookup;
  /** The clinical "now" that look-back windows are measured from. */
  clinicalNow: number;
}

/**
 * The patient's data for the rules: the prefetch where it is usable, the rest fetched from the FHIR
 * server in parallel within the time budget (paginated prefetches completed, absent or failed keys
 * fetched; `null` keys are known to be empty and never refetched).
 */
export async function gatherPatientRecord(input: GatherInput): Promise<PatientRecord> {
  const { access } = input;
  const results = await Promise.all(
    input.requirements.map(async (requirement): Promise<[string, KeyResult]> => {
      const present = input.prefetch !== undefined && Object.hasOwn(input.prefetch, requirement.key);
      const prefetched = readPrefetch(present, input.prefetch?.[requirement.key], requirement);
      if (access.kind === 'none') return [requirement.key, prefetched];
      if (access.kind === 'refused') {
        return prefetched.status.state === 'unavailable'
          ? [requirement.key, { ...prefetched, status: { state: 'unavailable', reason: `${prefetched.status.reason}, and not fetched: ${access.reason}` } }]
          : [requirement.key, prefetched];
      }
      const interaction = requirement.template.includes('?') ? 'search' : 'read';
      if (!access.scopes.allows(requirement.resourceType, interaction)) {
        const reason = `the EHR's access token does not allow reading ${requirement.resourceType}`;
        return prefetched.status.state === 'unavailable'
          ? [
              requirement.key,
              { ...prefetched, status: { state: 'unavailable', reason: `${prefetched.status.reason}, and not fetched: ${reason}`, cause: 'refused' } },
            ]
          : [requirement.key, prefetched];
      }
      if (prefetched.status.state === 'unavailable') {
        const query = fetchQuery(requirement, input.tokens, input.analytes, input.clinicalNow);
        return [requirement.key, await fetchRequirement(requirement, query, access.client, prefetched.status.reason)];
      }
      return [requirement.key, await continuePrefetch(prefetched, requirement, access.client)];
    }),
  );
  return assembleRecord(input.requirements, new Map(results), input.medications);
}

/** `Medication/<id>` references (relative, or absolute on the FHIR server) that the lookup cannot resolve yet. */
export function unresolvedMedicationReferences(resources: readonly AnyResource[], lookup: MedicationLookup): string[] {
  const references = new Set<string>();
  for (const resource of resources) {
    const medicationOrder = resourceOf<MedicationRequest>(resource, 'MedicationRequest') ?? resourceOf<MedicationStatement>(resource, 'MedicationStatement');
    const reference = medicationOrder?.medicationReference;
    const ref = reference?.reference;
    if (typeof ref !== 'string' || ref.startsWith('#') || !/(?:^|\/)Medication\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) continue;
    if (!lookup.resolve(reference, medicationOrder)) references.add(ref);
  }
  return [...references];
}

/**
 * Fetches referenced Medications in parallel and adds them to the lookup. Resolves to why each one
 * that stays unresolved could not be read (for the card that says so).
 */
/** Ids per `Medication?_id=` search: short enough for any server's URL length. */
const IDS_PER_SEARCH = 50;

async function searchMedications(byId: ReadonlyMap<string, string>, client: FhirClient, lookup: MedicationLookup, failed: Map<string, string>): Promise<void> {
  const ids = [...byId.keys()];
  const batches = Array.from({ length: Math.ceil(ids.length / IDS_PER_SEARCH) }, (_, i) => ids.slice(i * IDS_PER_SEARCH, (i + 1) * IDS_PER_SEARCH));
  await Promise.all(
    batches.map(async (batch) => {
      const found = await client.search(`Medication?_id=${batch.map(encodeURIComponent).join(',')}&_count=${batch.length}`);
      const medications = found.ok ? found.value.filter((r) => r.resourceType === 'Medication' && typeof r.id === 'string' && batch.includes(r.id)) : [];
      lookup.add(medications.map((resource) => ({ fullUrl: byId.get(resource.id as string) ?? '', resource })));
      const got = new Set(medications.map((m) => m.id));
      for (const id of batch) {
        if (!got.has(id)) failed.set(byId.get(id) ?? id, found.ok ? 'the FHIR server does not have it' : found.reason);
      }
    }),
  );
}

export async function fetchMedications(references: readonly string[], access: FhirAccess, lookup: MedicationLookup): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  if (references.length === 0) return failed;
  if (access.kind !== 'client') {
    const why = access.kind === 'none' ? 'it was not sent, and the EHR gave no FHIR server to read it from' : access.reason;
    for (const ref of references) failed.set(ref, why);
    return failed;
  }
  const { client, scopes } = access;
  if (!scopes.allows('Medication', 'read') && !scopes.allows('Medication', 'search')) {
    for (const ref of references) failed.set(ref, "the EHR's access token does not allow reading Medication");
    return failed;
  }
  // Many references on the server's own path are read in a few `_id` searches, not one request each
  // (3,000 references once opened 3,000 sockets); a single one is read as itself.
  const byId = new Map<string, string>();
  for (const ref of references) {
    const id = /^Medication\/([A-Za-z0-9\-.]{1,64})$/.exec(ref)?.[1];
    if (id) byId.set(id, ref);
  }
  if (byId.size > 1) {
    await searchMedications(byId, client, lookup, failed);
    const searched = new Set(byId.values());
    references = references.filter((ref) => !searched.has(ref));
  }
  const fetched = await Promise.all(
    references.map(async (ref) => {
      let url: URL;
      try {
        url = ref.includes('://') ? new URL(ref) : client.resolve(ref);
      } catch {
        failed.set(ref, 'its reference could not be read');
        return undefined;
      }
      // Only Medications on the EHR's own FHIR server are fetched (the token goes nowhere else).
      if (!client.isOnServer(url)) {
        failed.set(ref, "it is not on the EHR's FHIR server");
        return undefined;
      }
      const read = await client.read(url);
      if (read.ok && read.value.resourceType === 'Medication') return { fullUrl: ref, resource: read.value };
      failed.set(ref, read.ok ? 'the FHIR server answered with something that is not a Medication' : read.reason);
      return undefined;
    }),
  );
  lookup.add(fetched.filter((e): e is { fullUrl: string; resource: AnyResource } => e !== undefined));
  return failed;
}
