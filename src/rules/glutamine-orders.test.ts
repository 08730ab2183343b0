import { describe, expect, it } from 'vitest';
import { testCatalogue } from '../../test/helpers.js';
import { SYSTEM } from '../fhir/codings.js';
import { bundleEntries } from '../fhir/bundle.js';
import type { AnyResource } from '../fhir/tolerant.js';
import { findGlutamineOrders, isSelected } from './glutamine-orders.js';
import { MedicationLookup } from './medication-lookup.js';

const catalogue = testCatalogue();

function request(id: string, medication: Record<string, unknown>, extra: Record<string, unknown> = {}): AnyResource {
  return { resourceType: 'MedicationRequest', id, status: 'draft', intent: 'order', subject: { reference: 'Patient/1' }, ...medication, ...extra };
}

function detect(drafts: AnyResource[], selections?: string[], extraEntries: AnyResource[] = []): string[] {
  const lookup = new MedicationLookup().add(bundleEntries({ resourceType: 'Bundle', entry: [...drafts, ...extraEntries].map((resource) => ({ resource })) }));
  return findGlutamineOrders(drafts, selections, catalogue, lookup).map((o) => o.reference ?? o.name);
}

const concept = (system: string, code: string, display?: string) => ({
  medicationCodeableConcept: { coding: [{ system, code, ...(display ? { display } : {}) }] },
});

describe('glutamine order detection (docs/clinical-spec.md "What counts as a glutamine order")', () => {
  it.each([
    ['RxNorm generic powder', concept(SYSTEM.rxnorm, '1869684')],
    ['RxNorm Endari', concept(SYSTEM.rxnorm, '1928941')],
    ['RxNorm 500 mg tablet', concept(SYSTEM.rxnorm, '199153')],
    ['RxNorm 500 mg capsule', concept(SYSTEM.rxnorm, '199866')],
    ['RxNorm 750 mg capsule', concept(SYSTEM.rxnorm, '579958')],
    ['RxNorm blend with tyrosine', concept(SYSTEM.rxnorm, '282726')],
    ['RxNorm blend with ginkgo', concept(SYSTEM.rxnorm, '664831')],
    ['RxNorm by OID', concept('urn:oid:2.16.840.1.113883.6.88', '1869684')],
    ['NDC hyphenated', concept(SYSTEM.ndc, '42457-420-60')],
    ['NDC 11-digit', concept(SYSTEM.ndc, '31722048360')],
    ['NDC without hyphens', concept(SYSTEM.ndc, '4245742001')],
    ['UNII', concept(SYSTEM.unii, '0RH81L854J')],
    ['ATC', concept(SYSTEM.atc, 'A16AA03')],
    ['alanyl-glutamine SNOMED', concept(SYSTEM.snomed, '703391005')],
    ['alanyl-glutamine ATC', concept(SYSTEM.atc, 'B05XB02')],
    ['text only', { medicationCodeableConcept: { text: 'L-Glutamine 5 g packet' } }],
    ['display only', { medicationCodeableConcept: { coding: [{ system: 'http://example.org/local', code: '9', display: 'GLUTAMINE POWDER' }] } }],
    ['brand Endari by name', { medicationCodeableConcept: { text: 'Endari oral powder' } }],
    ['brand NutreStore by name', { medicationCodeableConcept: { text: 'NutreStore' } }],
    ['alanyl-glutamine by name', { medicationCodeableConcept: { text: 'Alanyl-glutamine 20% infusion' } }],
  ])('detects %s', (_name, medication) => {
    expect(detect([request('g1', medication)])).toEqual(['MedicationRequest/g1']);
  });

  it.each([
    ['another drug', concept('http://example.org/local-formulary', 'AMOX500', 'amoxicillin 500 MG Oral Capsule')],
    ['a look-alike word', { medicationCodeableConcept: { text: 'glutaminase inhibitor (trial)' } }],
    ['glutamic acid', { medicationCodeableConcept: { text: 'Glutamic acid 500 mg' } }],
    ['no product yet', {}],
    ['an empty concept', { medicationCodeableConcept: {} }],
  ])('ignores %s', (_name, medication) => {
    expect(detect([request('x1', medication)])).toEqual([]);
  });

  it('reads a contained Medication', () => {
    const order = request('g1', {
      medicationReference: { reference: '#m' },
      contained: [{ resourceType: 'Medication', id: 'm', code: { coding: [{ system: SYSTEM.rxnorm, code: '1928941' }] } }],
    });
    expect(detect([order])).toEqual(['MedicationRequest/g1']);
  });

  it('reads a Medication entry of the same draftOrders bundle, by relative or absolute reference', () => {
    const medication = { resourceType: 'Medication', id: 'med-9', code: { text: 'L-glutamine powder' } };
    expect(detect([request('g1', { medicationReference: { reference: 'Medication/med-9' } })], undefined, [medication])).toEqual(['MedicationRequest/g1']);
    expect(detect([request('g2', { medicationReference: { reference: 'https://ehr.example.org/fhir/Medication/med-9' } })], undefined, [medication])).toEqual([
      'MedicationRequest/g2',
    ]);
  });

  it("reads a Medication's ingredients", () => {
    const medication = {
      resourceType: 'Medication',
      id: 'blend',
      code: { text: 'Gut Support Blend' },
      ingredient: [{ itemCodeableConcept: { text: 'Zinc' } }, { itemCodeableConcept: { coding: [{ system: SYSTEM.unii, code: '0RH81L854J' }] } }],
    };
    expect(detect([request('g1', { medicationReference: { reference: 'Medication/blend' } })], undefined, [medication])).toEqual(['MedicationRequest/g1']);
  });

  it('reads the display of an unresolvable Medication reference', () => {
    expect(detect([request('g1', { medicationReference: { reference: 'Medication/elsewhere', display: 'L-Glutamine 5 g' } })])).toEqual([
      'MedicationRequest/g1',
    ]);
    expect(detect([request('g2', { medicationReference: { reference: 'Medication/elsewhere' } })])).toEqual([]);
  });

  it('detects a NutritionOrder supplement by type or product name, and ignores other resource types', () => {
    const nutrition = { resourceType: 'NutritionOrder', id: 'n1', status: 'draft', intent: 'order', supplement: [{ productName: 'L-glutamine 5 g' }] };
    const byType = { resourceType: 'NutritionOrder', id: 'n2', status: 'draft', intent: 'order', supplement: [{ type: { text: 'Glutamine supplement' } }] };
    const service = { resourceType: 'ServiceRequest', id: 's1', code: { text: 'Glutamine level' } };
    expect(detect([nutrition, byType, service])).toEqual(['NutritionOrder/n1', 'NutritionOrder/n2']);
  });

  it('accepts any MedicationRequest status (order-sign may carry revised, non-draft orders)', () => {
    expect(detect([request('g1', concept(SYSTEM.rxnorm, '1869684'), { status: 'active' })])).toEqual(['MedicationRequest/g1']);
  });
});

describe('selections (order-select)', () => {
  const glutamine = request('g1', concept(SYSTEM.rxnorm, '1869684'));
  const other = request('g2', concept(SYSTEM.rxnorm, '199153'));

  it('evaluates only the selected orders', () => {
    expect(detect([glutamine, other], ['MedicationRequest/g2'])).toEqual(['MedicationRequest/g2']);
    expect(detect([glutamine, other], ['MedicationRequest/zzz'])).toEqual([]);
  });

  it('evaluates every order when there is no selections list (order-sign)', () => {
    expect(detect([glutamine, other])).toEqual(['MedicationRequest/g1', 'MedicationRequest/g2']);
  });

  it('tolerates a bare id or an absolute URL as a selection, but not another type', () => {
    expect(isSelected(glutamine, ['g1'])).toBe(true);
    expect(isSelected(glutamine, ['https://ehr.example.org/fhir/MedicationRequest/g1'])).toBe(true);
    expect(isSelected(glutamine, ['ServiceRequest/g1'])).toBe(false);
  });
});
