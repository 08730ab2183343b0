import type { MedicationRequest, MedicationStatement, NutritionOrder } from 'fhir/r4';
import type { CodeIndex } from '../fhir/codings.js';
import { nonEmptyString, resourceOf } from '../fhir/tolerant.js';
import type { AnyResource } from '../fhir/tolerant.js';
import type { MedicationEvidence } from './evidence.js';
import type { MedicationLookup } from './medication-lookup.js';
import { medicationProduct, nutritionProduct } from './medication-product.js';
import type { Product } from './medication-product.js';
import type { PatientRecord } from './patient-record.js';

/** docs/clinical-spec.md "Patient data and how it counts", Medications: what counts as a current medication. */
const CURRENT_REQUEST_STATUS = new Set(['active', 'on-hold']);
const CURRENT_STATEMENT_STATUS = new Set(['active']);
/** Other draft orders count whatever their status, except those withdrawn or recorded in error. */
const WITHDRAWN_STATUS = new Set(['cancelled', 'entered-in-error', 'stopped']);

export interface CurrentMedication {
  product: Product;
  status?: string;
  origin: MedicationEvidence['origin'];
  /** For another draft order of this request: the draft itself. */
  draft?: AnyResource;
  /** For a current MedicationRequest: its id (a revised order is not its own co-medication). */
  requestId?: string;
}

/** A MedicationRequest that forbids the medication (doNotPerform) is not a current medication of it. */
export function isDoNotPerform(resource: AnyResource | MedicationRequest | MedicationStatement): boolean {
  return (resource as { doNotPerform?: unknown }).doNotPerform === true;
}

/** Current medications of the patient plus the other draft orders of this request (none doNotPerform: revision 2, item 9). */
export function currentMedications(record: PatientRecord, otherDraftOrders: readonly AnyResource[], lookup: MedicationLookup): CurrentMedication[] {
  const list: CurrentMedication[] = [];
  const push = (resource: MedicationRequest | MedicationStatement, origin: CurrentMedication['origin']): void => {
    // R4 makes status required; real feeds omit it.
    const status = nonEmptyString(resource.status);
    list.push({ product: medicationProduct(resource, lookup), ...(status ? { status } : {}), origin });
  };
  for (const request of record.medicationRequests) {
    if (!CURRENT_REQUEST_STATUS.has(request.status) || isDoNotPerform(request)) continue;
    push(request, 'medication-request');
    const last = list[list.length - 1];
    if (last && typeof request.id === 'string') last.requestId = request.id;
  }
  for (const statement of record.medicationStatements) {
    if (CURRENT_STATEMENT_STATUS.has(statement.status)) push(statement, 'medication-statement');
  }
  for (const resource of otherDraftOrders) {
    if (typeof resource.status === 'string' && WITHDRAWN_STATUS.has(resource.status)) continue;
    const request = resourceOf<MedicationRequest>(resource, 'MedicationRequest');
    const nutrition = resourceOf<NutritionOrder>(resource, 'NutritionOrder');
    if (request && !isDoNotPerform(resource)) {
      const status = nonEmptyString(request.status);
      list.push({ product: medicationProduct(request, lookup), ...(status ? { status } : {}), origin: 'draft-order', draft: resource });
    } else if (nutrition) {
      // A glutamine supplement ordered as nutrition is as much a co-ordered glutamine (revision 2, item 15).
      list.push({ product: nutritionProduct(nutrition), origin: 'draft-order', draft: resource });
    }
  }
  return list;
}

export function productMatches(product: Product, codes: CodeIndex, matchesName: (text: string) => boolean): boolean {
  return product.concepts.some((c) => codes.match(c) !== undefined) || product.texts.some(matchesName);
}

export function findMedications(medications: readonly CurrentMedication[], matches: (product: Product) => boolean): MedicationEvidence[] {
  return medications
    .filter((m) => matches(m.product))
    .map((m) => ({
      kind: 'medication' as const,
      name: m.product.name ?? 'unnamed medication',
      ...(m.status ? { status: m.status } : {}),
      origin: m.origin,
    }));
}
