import type { Condition, MedicationRequest, MedicationStatement, Observation, OperationOutcome, Patient } from 'fhir/r4';
import { bundleEntries, resourcesOfType } from '../fhir/bundle.js';
import { asArray, isRecord, isResource } from '../fhir/tolerant.js';
import type { AnyResource } from '../fhir/tolerant.js';
import type { DataRequirement } from '../rules/load-catalogue.js';
import type { MedicationLookup } from '../rules/medication-lookup.js';
import type { DataStatus, PatientRecord } from '../rules/patient-record.js';

/** An OperationOutcome that reports a failure (severity error or fatal), not a mere warning. */
function isFailure(resource: AnyResource): boolean {
  if (resource.resourceType !== 'OperationOutcome') return false;
  return asArray((resource as unknown as OperationOutcome).issue).some((i) => i.severity === 'error' || i.severity === 'fatal');
}

function hasNextPage(bundle: AnyResource): boolean {
  return asArray(bundle.link).some((l) => isRecord(l) && l.relation === 'next' && typeof l.url === 'string');
}

interface KeyResult {
  status: DataStatus;
  resources: AnyResource[];
}

/**
 * CDS Hooks 2.0 §Prefetch: a resource or Bundle is used; `null` means the client has no data
 * (known empty); an OperationOutcome reports a prefetch error; an absent key was not provided.
 * Until the service fetches from the FHIR server itself, errors and absent keys are unavailable data.
 */
function readPrefetchValue(present: boolean, value: unknown, requirement: DataRequirement): KeyResult {
  if (!present) return { status: { state: 'unavailable', reason: 'not provided by the EHR' }, resources: [] };
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
  if (resources.some(isFailure)) {
    return { status: { state: 'unavailable', reason: 'the EHR reported an error retrieving it' }, resources: [] };
  }
  const wanted = resources.filter((r) => r.resourceType === requirement.resourceType);
  if (hasNextPage(value)) {
    return { status: { state: 'partial', reason: 'only the first page of results was received' }, resources: wanted };
  }
  return { status: { state: wanted.length > 0 ? 'available' : 'empty' }, resources: wanted };
}

/** Every entry of every prefetched bundle, so referenced Medications can be resolved. */
export function prefetchEntries(prefetch: Record<string, unknown> | undefined): Array<{ fullUrl?: string; resource: AnyResource }> {
  return Object.values(prefetch ?? {}).flatMap((value) => bundleEntries(value));
}

/** Builds the patient record from the request's prefetch, one data requirement at a time. */
export function recordFromPrefetch(
  requirements: readonly DataRequirement[],
  prefetch: Record<string, unknown> | undefined,
  medications: MedicationLookup,
): PatientRecord {
  const status = new Map<string, DataStatus>();
  const byType = new Map<string, AnyResource[]>();
  for (const requirement of requirements) {
    const present = prefetch !== undefined && Object.hasOwn(prefetch, requirement.key);
    const result = readPrefetchValue(present, prefetch?.[requirement.key], requirement);
    status.set(requirement.key, result.status);
    byType.set(requirement.resourceType, [...(byType.get(requirement.resourceType) ?? []), ...result.resources]);
  }
  const of = (type: string): AnyResource[] => byType.get(type) ?? [];
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
