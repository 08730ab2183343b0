/**
 * The benchmark's realistic hook request: a patient with 50 conditions, 300 observations and 40
 * medication requests in the prefetch, and one glutamine order that fires three cards
 * (liver-disease critical, kidney-disease warning, lactulose warning). Deterministic.
 */
import { DAY_MS } from '../src/fhir/dates.js';

const ICD = 'http://hl7.org/fhir/sid/icd-10-cm';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const PATIENT = 'bench-patient';
const NOW = Date.parse('2026-11-26T12:00:00Z');
const day = (n: number): string => new Date(NOW - n * DAY_MS).toISOString();

function searchset(resources: unknown[]): unknown {
  return { resourceType: 'Bundle', type: 'searchset', total: resources.length, entry: resources.map((resource) => ({ resource })) };
}

function condition(id: string, text: string, code?: string): unknown {
  return {
    resourceType: 'Condition',
    id,
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { text, ...(code ? { coding: [{ system: ICD, code, display: text }] } : {}) },
    subject: { reference: `Patient/${PATIENT}` },
    onsetDateTime: day(400 + id.length * 10),
  };
}

function observation(id: string, system: string, code: string, text: string, value: number, unit: string, daysAgo: number): unknown {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system, code, display: text }], text },
    subject: { reference: `Patient/${PATIENT}` },
    effectiveDateTime: day(daysAgo),
    valueQuantity: { value, unit, system: UCUM, code: unit },
  };
}

function medication(id: string, text: string): unknown {
  return {
    resourceType: 'MedicationRequest',
    id,
    status: 'active',
    intent: 'order',
    subject: { reference: `Patient/${PATIENT}` },
    medicationCodeableConcept: { text },
  };
}

export function benchResources(observationCount = 300): { patient: unknown; conditions: unknown[]; observations: unknown[]; medications: unknown[] } {
  const conditions = [
    condition('cond-cirrhosis', 'Alcoholic cirrhosis of liver without ascites', 'K70.30'),
    condition('cond-ckd', 'Chronic kidney disease, stage 3 unspecified', 'N18.30'),
    ...Array.from({ length: 48 }, (_, i) => condition(`cond-bg-${i}`, `Background problem ${i} (not a glutamine concern)`)),
  ];
  // By default 300 results over the last 180 days, a chronically ill patient's frequent labs (older
  // ones fall outside the windows): ammonia, eGFR, creatinine and weight in the shares 10:10:7:3.
  // Other counts (the bench's record-size sweep) keep the shares and the 180 days.
  const group = (share: number): number => Math.max(1, Math.round((observationCount * share) / 30));
  const spread = (n: number, i: number): number => (i * 180) / n + 1;
  const observations: unknown[] = [];
  const nh3 = group(10);
  for (let i = 0; i < nh3; i++)
    observations.push(observation(`nh3-${i}`, LOINC, '16362-6', 'Ammonia [Moles/volume] in Plasma', 22 + (i % 7), 'umol/L', spread(nh3, i)));
  const egfr = group(10);
  for (let i = 0; i < egfr; i++)
    observations.push(observation(`egfr-${i}`, LOINC, '98979-8', 'eGFR CKD-EPI 2021', 72 + (i % 9), 'mL/min/{1.73_m2}', spread(egfr, i)));
  const creatinine = group(7);
  for (let i = 0; i < creatinine; i++)
    observations.push(
      observation(`cr-${i}`, LOINC, '2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', 0.9 + (i % 3) / 10, 'mg/dL', spread(creatinine, i)),
    );
  const weight = group(3);
  for (let i = 0; i < weight; i++) observations.push(observation(`wt-${i}`, LOINC, '29463-7', 'Body weight', 80 + (i % 3), 'kg', spread(weight, i)));
  const medications = [
    medication('rx-lactulose', 'lactulose 10 GM in 15 ML Oral Solution'),
    ...Array.from({ length: 39 }, (_, i) => medication(`rx-bg-${i}`, `Background medicine ${i} 10 MG Oral Tablet`)),
  ];
  return { patient: { resourceType: 'Patient', id: PATIENT, gender: 'female', birthDate: '1961-05-14' }, conditions, observations, medications };
}

const ORDER = {
  resourceType: 'MedicationRequest',
  id: 'bench-glutamine',
  status: 'draft',
  intent: 'order',
  subject: { reference: `Patient/${PATIENT}` },
  medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1869684' }], text: 'L-glutamine 5 g oral powder' },
  dosageInstruction: [
    { timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } }, doseAndRate: [{ doseQuantity: { value: 5, unit: 'g', system: UCUM, code: 'g' } }] },
  ],
  dispenseRequest: { expectedSupplyDuration: { value: 30, unit: 'days', system: UCUM, code: 'd' } },
};

/** The order-sign request, with the full prefetch or (fhirServer given) none at all. */
export function benchRequest(fhirServer?: string, observationCount = 300): Record<string, unknown> {
  const { patient, conditions, observations, medications } = benchResources(observationCount);
  const byCode = (codes: string[]) =>
    observations.filter((o) => codes.includes((o as { code: { coding: Array<{ code: string }> } }).code.coding[0]?.code ?? ''));
  const request: Record<string, unknown> = {
    hook: 'order-sign',
    hookInstance: '7d5f0b1e-0000-4000-8000-00000000be9c',
    context: { userId: 'Practitioner/bench', patientId: PATIENT, draftOrders: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: ORDER }] } },
  };
  if (fhirServer) return { ...request, fhirServer };
  return {
    ...request,
    prefetch: {
      patient,
      conditions: searchset(conditions),
      ammonia: searchset(byCode(['16362-6'])),
      egfr: searchset(byCode(['98979-8'])),
      creatinine: searchset(byCode(['2160-0'])),
      bodyWeight: searchset(byCode(['29463-7'])),
      medicationRequests: searchset(medications),
      medicationStatements: searchset([]),
    },
  };
}
