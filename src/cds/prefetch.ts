import type { Condition, MedicationRequest, MedicationStatement, Observation, Patient } from 'fhir/r4';
import { bundleEntries, isErrorOutcome, nextLink } from '../fhir/bundle.js';
import { isResource } from '../fhir/tolerant.js';
import type { AnyResource } from '../fhir/tolerant.js';
import type { DataRequirement } from '../rules/load-catalogue.js';
import type { MedicationLookup } from '../rules/medication-lookup.js';
import type { DataStatus, PatientRecord } from '../rules/patient-record.js';

/** What one prefetch key (or the fetch that replaced it) yielded. */
export interface KeyResult {
  status: DataStatus;
  resources: AnyResource[];
  /** A paginated prefetch Bundle whose later pages can still be fetched. */
  continueFrom?: AnyResource;
}

const NOT_PROVIDED = 'not provided by the EHR';

/**
 * CDS Hooks 2.0 §Prefetch: a resource or Bundle is used; `null` means the client has no data
 * (known empty, never refetched); an OperationOutcome — alone or inside the Bundle — reports a
 * prefetch error; an absent key was not provided. The last two are what the service fetches itself.
 */
export function readPrefetch(present: boolean, value: unknown, requirement: DataRequirement): KeyResult {
  if (!present) return { status: { state: 'unavailable', reason: NOT_PROVIDED }, resources: [] };
  if (value === null) return { status: { state: 'empty' }, resources: [] };
  if (!isResource(value)) return { status: { state: 'unavailable', reason: 'the EHR sent something that is not a FHIR resource' }, resources: [] };
  if (value.resourceType === 'OperationOutcome') {
    return { status: { state: 'unavailable', reason: 'the EHR reported an error retrieving it' }, resources: [] };
  }
  if (value.resourceType !== 'Bundle') {
    return value.resourceType === requirement.resourceType
      ? { status: { state: 'available' }, resources: [value] }
      : { status: { state: 'unavailable', reason: `the EHR sent a ${value.resourceType} instead` }, resources: [] };
  }
  // One pass over the entries (a record's hundreds of results are read here on every call).
  const wanted: AnyResource[] = [];
  for (const { resource } of bundleEntries(value)) {
    if (isErrorOutcome(resource)) return { status: { state: 'unavailable', reason: 'the EHR reported an error retrieving it' }, resources: [] };
    if (resource.resourceType === requirement.resourceType) wanted.push(resource);
  }
  if (nextLink(value)) {
    return { status: { state: 'partial', reason: 'only the first page of results was received' }, resources: wanted, continueFrom: value };
  }
  return { status: { state: wanted.length > 0 ? 'available' : 'empty' }, resources: wanted };
}

/** The Medication entries of every prefetched bundle, so referenced Medications can be resolved. */
export function prefetchedMedications(prefetch: Record<string, unknown> | undefined): Array<{ fullUrl?: string; resource: AnyResource }> {
  return Object.values(prefetch ?? {}).flatMap((value) => bundleEntries(value, 'Medication'));
}

/** The patient record from one result per data requirement. */
export function assembleRecord(
  requirements: readonly DataRequirement[],
  results: ReadonlyMap<string, KeyResult>,
  medications: MedicationLookup,
): PatientRecord {
  const status = new Map<string, DataStatus>();
  const byType = new Map<string, AnyResource[]>();
  // One copy of each resource per type (by id), in one pass: the same Observation can arrive under
  // several prefetch keys (an eGFR panel under both `egfr` and `creatinine`), and is one result
  // (clinical-spec revision 2, item 17).
  const seen = new Map<string, Set<string>>();
  for (const requirement of requirements) {
    const result = results.get(requirement.key) ?? { status: { state: 'unavailable', reason: NOT_PROVIDED }, resources: [] };
    status.set(requirement.key, result.status);
    const type = requirement.resourceType;
    let list = byType.get(type);
    if (!list) byType.set(type, (list = []));
    let ids = seen.get(type);
    if (!ids) seen.set(type, (ids = new Set()));
    for (const resource of result.resources) {
      if (resource.resourceType !== type) continue;
      const id = resource.id;
      if (typeof id === 'string' && id !== '') {
        if (ids.has(id)) continue;
        ids.add(id);
      }
      list.push(resource);
    }
  }
  // Each list holds only resources of its type (checked above).
  const of = <T>(type: string): T[] => (byType.get(type) ?? []) as unknown as T[];
  const patient = of<Patient>('Patient')[0];
  return {
    ...(patient ? { patient } : {}),
    conditions: of<Condition>('Condition'),
    observations: of<Observation>('Observation'),
    medicationRequests: of<MedicationRequest>('MedicationRequest'),
    medicationStatements: of<MedicationStatement>('MedicationStatement'),
    medications,
    status,
  };
}

/** The patient record from the prefetch alone (no FHIR server). */
export function recordFromPrefetch(
  requirements: readonly DataRequirement[],
  prefetch: Record<string, unknown> | undefined,
  medications: MedicationLookup,
): PatientRecord {
  const results = new Map(
    requirements.map((r) => [r.key, readPrefetch(prefetch !== undefined && Object.hasOwn(prefetch, r.key), prefetch?.[r.key], r)] as const),
  );
  return assembleRecord(requirements, results, medications);
}
