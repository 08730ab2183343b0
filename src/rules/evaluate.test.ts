import type { Condition, Observation } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { testCatalogue } from '../../test/helpers.js';
import { SYSTEM } from '../fhir/codings.js';
import type { AnyResource } from '../fhir/tolerant.js';
import { evaluate } from './evaluate.js';
import { findGlutamineOrders } from './glutamine-orders.js';
import { MedicationLookup } from './medication-lookup.js';
import type { DataStatus, PatientRecord } from './patient-record.js';

const catalogue = testCatalogue();
const NOW = Date.parse('2026-11-26T12:00:00Z');
const glutamine: AnyResource = { resourceType: 'MedicationRequest', id: 'g1', status: 'draft', medicationCodeableConcept: { text: 'L-glutamine 5 g' } };
const allAvailable = new Map<string, DataStatus>(catalogue.data.map((d) => [d.key, { state: 'available' }]));

function run(record: Partial<PatientRecord>, drafts: AnyResource[] = [glutamine]) {
  const lookup = new MedicationLookup();
  const full: PatientRecord = {
    conditions: [],
    observations: [],
    medicationRequests: [],
    medicationStatements: [],
    medications: lookup,
    status: allAvailable,
    ...record,
  };
  const orders = findGlutamineOrders(drafts, undefined, catalogue, lookup);
  return evaluate({ catalogue, orders, drafts, record: full, now: NOW });
}

function findings(record: Partial<PatientRecord>) {
  return run(record).findings.map((f) => `${f.ruleId}:${f.indicator}`);
}

const lab = (code: string, value: Partial<Observation>): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: SYSTEM.loinc, code }] },
  effectiveDateTime: '2026-11-25T08:00:00Z',
  ...value,
});
const ammonia = (value: number, high?: number) =>
  lab('16362-6', { valueQuantity: { value, code: 'umol/L' }, ...(high ? { referenceRange: [{ high: { value: high, code: 'umol/L' } }] } : {}) });
const egfr = (value: number) => lab('98979-8', { valueQuantity: { value, code: 'mL/min/{1.73_m2}' } });
const creatinine = (value: number) => lab('2160-0', { valueQuantity: { value, code: 'mg/dL' } });
const condition = (system: string, code: string): Condition => ({
  resourceType: 'Condition',
  subject: { reference: 'Patient/1' },
  code: { coding: [{ system, code }] },
});

describe('hyperammonemia thresholds', () => {
  it.each([
    [35, []],
    [35.1, ['hyperammonemia:warning']],
    [69.9, ['hyperammonemia:warning']],
    [70, ['hyperammonemia:critical']],
  ])('ammonia %s µmol/L with the default limit 35 → %j', (value, expected) => {
    expect(findings({ observations: [ammonia(value)] })).toEqual(expected);
  });

  it('uses the report limit for both tiers', () => {
    expect(findings({ observations: [ammonia(100, 50)] })).toEqual(['hyperammonemia:critical']);
    expect(findings({ observations: [ammonia(99, 50)] })).toEqual(['hyperammonemia:warning']);
  });

  it.each(['H', 'HH', 'HU', 'AA'])('a result flagged %s without a value is a warning', (flag) => {
    expect(findings({ observations: [lab('16362-6', { interpretation: [{ coding: [{ code: flag }] }] })] })).toEqual(['hyperammonemia:warning']);
  });

  it('a normal flag without a value is nothing', () => {
    expect(findings({ observations: [lab('16362-6', { interpretation: [{ coding: [{ code: 'N' }] }] })] })).toEqual([]);
  });
});

describe('kidney-disease thresholds and tiers', () => {
  it.each([
    [29, ['kidney-disease:critical']],
    [30, ['kidney-disease:warning']],
    [59, ['kidney-disease:warning']],
    [60, []],
  ])('eGFR %s → %j', (value, expected) => {
    expect(findings({ observations: [egfr(value)] })).toEqual(expected);
  });

  it('takes the most urgent tier and keeps the evidence of both', () => {
    const result = run({ conditions: [condition(SYSTEM.icd10cm, 'N18.4')], observations: [egfr(22)] });
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]?.indicator).toBe('critical');
    expect(result.findings[0]?.evidence.map((e) => e.kind)).toEqual(['lab', 'condition']);
  });
});

describe('findings per order', () => {
  it('gives one finding per rule per glutamine order; two glutamine drafts are one duplicate finding, on the later', () => {
    const second: AnyResource = { ...glutamine, id: 'g2' };
    const result = run({ conditions: [condition(SYSTEM.snomed, '19943007')] }, [glutamine, second]);
    expect(result.findings.map((f) => `${f.ruleId}@${f.orderReference}`)).toEqual([
      'liver-disease@MedicationRequest/g1',
      'liver-disease@MedicationRequest/g2',
      'duplicate-glutamine@MedicationRequest/g2',
    ]);
  });

  it('does not count the order being checked as its own co-medication', () => {
    const lactuloseAndGlutamine: AnyResource = {
      resourceType: 'MedicationRequest',
      id: 'g3',
      status: 'draft',
      medicationCodeableConcept: { text: 'glutamine / lactulose compound' },
    };
    expect(run({}, [lactuloseAndGlutamine]).findings).toEqual([]);
  });
});

describe('gaps', () => {
  it('names what is missing and which rules could not be checked', () => {
    const status = new Map(allAvailable);
    status.set('conditions', { state: 'unavailable', reason: 'not provided by the EHR' });
    status.set('creatinine', { state: 'unavailable', reason: 'not provided by the EHR' });
    const { gaps } = run({ status });
    expect(gaps).toEqual([
      {
        key: 'conditions',
        cause: 'unavailable',
        description: 'conditions (problem list and diagnoses): not provided by the EHR',
        rules: ['liver-disease', 'kidney-disease', 'active-cancer', 'bipolar-disorder', 'dose-above-range', 'duration-above-studied'],
      },
      { key: 'creatinine', cause: 'unavailable', description: 'creatinine results: not provided by the EHR', rules: ['kidney-disease'] },
    ]);
  });

  it('names missing demographics only where a calculation needed them (revision 2, item 19)', () => {
    const status = new Map(allAvailable);
    status.set('patient', { state: 'unavailable', reason: 'not provided by the EHR' });
    expect(run({ status }).gaps).toEqual([]);
    const creatinineOnly = run({ status, observations: [creatinine(2.1)] }).gaps;
    expect(creatinineOnly.map((g) => [g.key, g.cause])).toEqual([['derived-lab', 'not-calculated']]);
    expect(creatinineOnly[0]?.description).toContain("the patient's sex is unknown (patient demographics: not provided by the EHR)");
  });

  it('does not report a medication source the server does not support when the other one was read (revision 2, item 20)', () => {
    const status = new Map(allAvailable);
    status.set('medicationStatements', {
      state: 'unavailable',
      reason: 'fetching it failed: the FHIR server answered HTTP 400 (not supported)',
      cause: 'unsupported',
    });
    expect(run({ status }).gaps).toEqual([]);
    status.set('medicationRequests', { state: 'unavailable', reason: 'fetching it failed: the FHIR server answered HTTP 500', cause: 'http' });
    expect(run({ status }).gaps.map((g) => g.key)).toEqual(['medicationRequests', 'medicationStatements']);
  });

  it('does not report missing creatinine when an eGFR was reported', () => {
    const status = new Map(allAvailable);
    status.set('creatinine', { state: 'unavailable', reason: 'not provided by the EHR' });
    expect(run({ status, observations: [egfr(80)] }).gaps).toEqual([]);
    expect(run({ status }).gaps.map((g) => g.key)).toEqual(['creatinine']);
  });

  it('reports a current medication whose Medication could not be resolved', () => {
    const { gaps } = run({
      medicationRequests: [
        {
          resourceType: 'MedicationRequest',
          status: 'active',
          intent: 'order',
          subject: { reference: 'Patient/1' },
          medicationReference: { reference: 'Medication/m9' },
        },
      ],
    });
    expect(gaps).toEqual([
      {
        key: 'medication-reference',
        cause: 'unresolved-medication',
        description: 'a medication refers to Medication/m9, which was not provided, so its product is unknown',
        rules: ['active-cancer', 'bipolar-disorder', 'lactulose', 'antiseizure-medication', 'duplicate-glutamine'],
      },
    ]);
  });
});
