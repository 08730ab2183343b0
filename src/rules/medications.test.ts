import type { MedicationRequest, MedicationStatement } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { CodeIndex, SYSTEM, wholeWordMatcher } from '../fhir/codings.js';
import type { AnyResource } from '../fhir/tolerant.js';
import { MedicationLookup } from './medication-lookup.js';
import { currentMedications, findMedications, productMatches } from './medications.js';
import type { PatientRecord } from './patient-record.js';

const lactulose = new CodeIndex([
  { system: SYSTEM.rxnorm, code: '6218' },
  { system: SYSTEM.snomed, code: '273945008' },
]);
const byName = wholeWordMatcher(['lactulose']);

function record(requests: MedicationRequest[], statements: MedicationStatement[] = []): PatientRecord {
  return {
    conditions: [],
    observations: [],
    medicationRequests: requests,
    medicationStatements: statements,
    medications: new MedicationLookup(),
    status: new Map(),
  };
}

const rx = (status: MedicationRequest['status'], text: string, code?: string): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  status,
  intent: 'order',
  subject: { reference: 'Patient/1' },
  medicationCodeableConcept: { text, ...(code ? { coding: [{ system: SYSTEM.rxnorm, code }] } : {}) },
});

function found(r: PatientRecord, drafts: AnyResource[] = []) {
  return findMedications(currentMedications(r, drafts, r.medications), (product) => productMatches(product, lactulose, byName));
}

describe('current medications (docs/clinical-spec.md "Patient data and how it counts", Medications)', () => {
  it('counts active and on-hold orders, not stopped or completed ones', () => {
    const r = record([
      rx('active', 'lactulose 10 GM in 15 ML Oral Solution'),
      rx('on-hold', 'Lactulose syrup'),
      rx('stopped', 'lactulose'),
      rx('completed', 'lactulose'),
    ]);
    expect(found(r).map((m) => m.status)).toEqual(['active', 'on-hold']);
  });

  it('matches the ingredient code and the SNOMED substance', () => {
    expect(found(record([rx('active', 'Constulose', '6218')]))).toHaveLength(1);
    const statement: MedicationStatement = {
      resourceType: 'MedicationStatement',
      status: 'active',
      subject: { reference: 'Patient/1' },
      medicationCodeableConcept: { coding: [{ system: SYSTEM.snomed, code: '273945008' }] },
    };
    expect(found(record([], [statement]))).toEqual([{ kind: 'medication', name: 'SNOMED CT 273945008', status: 'active', origin: 'medication-statement' }]);
  });

  it('counts only active statements', () => {
    const statement = (status: MedicationStatement['status']): MedicationStatement => ({
      resourceType: 'MedicationStatement',
      status,
      subject: { reference: 'Patient/1' },
      medicationCodeableConcept: { text: 'lactulose' },
    });
    expect(found(record([], [statement('completed'), statement('entered-in-error'), statement('active')]))).toHaveLength(1);
  });

  it('counts the other draft orders of the request, except withdrawn ones', () => {
    const drafts = [
      { ...rx('draft', 'Lactulose 20 g/30 mL'), id: 'd1' },
      { ...rx('cancelled', 'Lactulose 20 g/30 mL'), id: 'd2' },
    ] as unknown as AnyResource[];
    expect(found(record([]), drafts)).toEqual([{ kind: 'medication', name: 'Lactulose 20 g/30 mL', status: 'draft', origin: 'draft-order' }]);
  });

  it('does not match look-alike names', () => {
    expect(found(record([rx('active', 'Lactulosen-free diet supplement'), rx('active', 'lactitol')]))).toEqual([]);
  });
});
