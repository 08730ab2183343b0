import type { Condition, MedicationRequest, MedicationStatement, Observation, Patient } from 'fhir/r4';
import { bundleEntries, isErrorOutcome, nextLink, resourcesOfType } from '../fhir/bundle.js';
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
  const resources = bundleEntries(value).map((e) => e.resource);
  if (resources.some(isErrorOutcome)) {
    return { status: { state: 'unavailable', reason: 'the EHR reported an error retrieving it' }, resources: [] };
  }
  const wanted = resources.filter((r) => r.resourceType === requirement.resourceType);
  if (nextLink(value)) {
    return { status: { state: 'partial', reason: 'only the first page of results was received' }, resources: wanted, continueFrom: value };
  }
  return { status: { state: wanted.length > 0 ? 'available' : 'empty' }, resources: wanted };
}

/** The Medication entries of every prefetched bundle, so referenced Medications can be resolved. */
export function prefetchedMedications(prefetch: Record<string, unknown> | undefined): Array<{ fullUrl?: string; resource: AnyResource }> {
  return Object.values(prefetch ?? {}).flatMap((value) => bundleEntries(value).filter((e) => e.resource.resourceType === 'Medication'));
}

/** The patient record from one result per data requirement. */
export function assembleRecord(
  requirements: readonly DataRequirement[],
  results: ReadonlyMap<string, KeyResult>,
  medications: MedicationLookup,
): PatientRecord {
  const status = new Map<string, DataStatus>();
  const byType = new Map<string, AnyResource[]>();
  for (const requirement of requirements) {
    const result = results.get(requirement.key) ?? { status: { state: 'unavailable', reason: NOT_PROVIDED }, resources: [] };
    status.set(requirement.key, result.status);
    const wanted = result.resources.filter((r) => r.resourceType === requirement.resourceType);
    byType.set(requirement.resourceType, [...(byType.get(requirement.resourceType) ?? []), ...wanted]);
  }
  const of = (type: string): AnyResource[] => withoutDuplicates(byType.get(type) ?? []);
  const patient = resourcesOfType<Patient>(of('Patient'), 'Patient')[0];
  return {
    ...(patient ? { patient } : {}),
    conditions: resourcesOfType<Condition>(of('Condition'), 'Condition'),
    observations: resourcesOfType<Observation>(of('Observation'), 'Observation'),
    medicationRequests: resourcesOfType<MedicationRequest>(of('MedicationRequest'), 'MedicationRequest'),
    medicationStatements: resourcesOfType<MedicationStatement>(of('MedicationStatement'), 'MedicationStatement'),
    medications,
    status,
  };
}

/**
 * One copy of each resource: the same Observation can arrive under several prefetch keys (an eGFR
 * panel under both `egfr` and `creatinine`), and is one result (clinical-spec revision 2, item 17).
 */
function withoutDuplicates(resources: readonly AnyResource[]): AnyResource[] {
  // Called per resource type, so the id alone is the key.
  const seen = new Set<string>();
  return resources.filter((r) => {
    if (typeof r.id !== 'string' || r.id === '') return true;
    if (seen.has(r.id)) return false;
    seen.add(r.id);
    return true;
  });
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
