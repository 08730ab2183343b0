import { randomUUID } from 'node:crypto';
import { bundleEntries } from '../fhir/bundle.js';
import type { AnyResource } from '../fhir/tolerant.js';
import { findGlutamineOrders } from '../rules/glutamine-orders.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import { MedicationLookup } from '../rules/medication-lookup.js';

export type Hook = 'order-sign' | 'order-select';

function searchset(resources: readonly AnyResource[]): AnyResource {
  return { resourceType: 'Bundle', type: 'searchset', total: resources.length, entry: resources.map((resource) => ({ resource })) };
}

/**
 * A complete CDS Hooks request from a FHIR Bundle holding a Patient, their data and one or more
 * glutamine MedicationRequests: the glutamine orders become `draftOrders` (all of them selected for
 * order-select), everything else fills the service's prefetch keys as an EHR would.
 */
export function requestFromBundle(bundle: unknown, hook: Hook, catalogue: Catalogue): Record<string, unknown> {
  const entries = bundleEntries(bundle);
  const resources = entries.map((e) => e.resource);
  const patient = resources.find((r) => r.resourceType === 'Patient');
  if (!patient || typeof patient.id !== 'string') throw new Error('the bundle has no Patient with an id');
  const lookup = new MedicationLookup().add(entries);
  const requests = resources.filter((r) => r.resourceType === 'MedicationRequest');
  const glutamine = findGlutamineOrders(requests, undefined, catalogue, lookup).map((o) => o.resource);
  // Draft glutamine orders are the ones being written; other glutamine orders are then current
  // medications (a duplicate). With no draft, every glutamine order is checked, whatever its status.
  const drafts = glutamine.filter((r) => r.status === 'draft');
  const orders = drafts.length > 0 ? drafts : glutamine;
  if (orders.length === 0) throw new Error('the bundle has no glutamine MedicationRequest to check');
  const medications = resources.filter((r) => r.resourceType === 'Medication');
  const ofType = (type: string) => resources.filter((r) => r.resourceType === type);

  const prefetch: Record<string, unknown> = {};
  for (const requirement of catalogue.data) {
    if (requirement.resourceType === 'Patient') prefetch[requirement.key] = patient;
    else if (requirement.resourceType === 'MedicationRequest') {
      // Referenced Medications travel with the orders, as an `_include` would bring them.
      prefetch[requirement.key] = searchset([...requests.filter((r) => !orders.includes(r)), ...medications]);
    } else if (requirement.resourceType === 'Observation') {
      const analyte = requirement.analyte ? catalogue.analytes.get(requirement.analyte) : undefined;
      const codes = analyte ? catalogue.valueSets.get(analyte.valueSet)?.codes : undefined;
      prefetch[requirement.key] = searchset(ofType('Observation').filter((o) => codes?.match(o.code as never) !== undefined));
    } else prefetch[requirement.key] = searchset(ofType(requirement.resourceType));
  }
  const draftOrders = { resourceType: 'Bundle', type: 'collection', entry: [...orders, ...medications].map((resource) => ({ resource })) };
  const context: Record<string, unknown> = { userId: 'Practitioner/glutamine-cds-cli', patientId: patient.id, draftOrders };
  if (hook === 'order-select') context.selections = orders.map((o) => `MedicationRequest/${o.id ?? ''}`);
  return { hook, hookInstance: randomUUID(), context, prefetch };
}
