import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { DAY_MS, parseFhirDate } from '../src/fhir/dates.js';
import { NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, cardLabel, testApp } from './helpers.js';

/**
 * Real data written by nobody here: every Patient of the official FHIR R4 examples (npm
 * hl7.fhir.r4.examples 4.0.1, CC0), with their Conditions, Observations and MedicationRequests (and
 * the Medications those name), through order-sign with a glutamine draft. Each answer must be a
 * spec-valid 200, and its cards exactly those of test/fhir-r4-examples.expected.json — reviewed
 * clinically, card by card (see the reasons in that file).
 *
 * The examples are dated 2012–2019, so each patient is evaluated as of the day after their latest
 * record: the look-back windows then see their labs, as a clinician ordering that day would.
 */

const EXAMPLES = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

interface Resource {
  resourceType: string;
  id?: string;
  subject?: { reference?: string };
  medicationReference?: { reference?: string };
  [key: string]: unknown;
}

function load(type: string): Resource[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.startsWith(`${type}-`) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as Resource)
    .filter((r) => r.resourceType === type);
}

const patients = load('Patient');
const byPatient = (resources: Resource[], id: string) => resources.filter((r) => r.subject?.reference === `Patient/${id}`);
const conditions = load('Condition');
const observations = load('Observation');
const medicationRequests = load('MedicationRequest');
const medications = new Map(load('Medication').map((m) => [`Medication/${m.id ?? ''}`, m]));

const searchset = (resources: Resource[]) => ({
  resourceType: 'Bundle',
  type: 'searchset',
  total: resources.length,
  entry: resources.map((resource) => ({ resource })),
});

const GLUTAMINE_DRAFT = {
  resourceType: 'MedicationRequest',
  id: 'glutamine-draft',
  status: 'draft',
  intent: 'order',
  medicationCodeableConcept: {
    coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1869684', display: 'L-glutamine 5 g oral powder' }],
    text: 'L-glutamine 5 g oral powder',
  },
  dosageInstruction: [
    {
      timing: { repeat: { frequency: 2, period: 1, periodUnit: 'd' } },
      doseAndRate: [{ doseQuantity: { value: 5, unit: 'g', system: 'http://unitsofmeasure.org', code: 'g' } }],
    },
  ],
  dispenseRequest: { expectedSupplyDuration: { value: 30, unit: 'days', system: 'http://unitsofmeasure.org', code: 'd' } },
};

/** The day after the patient's latest dated record (or a fixed day when nothing is dated). */
function dayAfterLatest(records: Resource[]): Date {
  const dates = records
    .flatMap((r) => [r.effectiveDateTime, r.issued, (r.effectivePeriod as { end?: unknown } | undefined)?.end, r.recordedDate, r.onsetDateTime, r.authoredOn])
    .map((d) => parseFhirDate(d))
    .filter((d): d is number => d !== undefined);
  return new Date(dates.length > 0 ? Math.max(...dates) + DAY_MS : Date.parse('2026-11-26T12:00:00Z'));
}

function hookRequest(patientId: string) {
  const own = {
    conditions: byPatient(conditions, patientId),
    observations: byPatient(observations, patientId),
    medicationRequests: byPatient(medicationRequests, patientId),
  };
  // As an EHR's search with _include would: the Medications the orders name travel with them.
  const named = own.medicationRequests.map((r) => medications.get(r.medicationReference?.reference ?? '')).filter((m): m is Resource => m !== undefined);
  const labs = searchset(own.observations);
  return {
    body: {
      hook: 'order-sign',
      hookInstance: `r4-example-${patientId}`,
      context: {
        userId: 'Practitioner/example',
        patientId,
        draftOrders: {
          resourceType: 'Bundle',
          type: 'collection',
          entry: [{ resource: { ...GLUTAMINE_DRAFT, subject: { reference: `Patient/${patientId}` } } }],
        },
      },
      prefetch: {
        patient: patients.find((p) => p.id === patientId),
        conditions: searchset(own.conditions),
        ammonia: labs,
        egfr: labs,
        creatinine: labs,
        bodyWeight: labs,
        medicationRequests: searchset([...own.medicationRequests, ...named]),
        medicationStatements: null,
      },
    },
    now: dayAfterLatest([...own.conditions, ...own.observations, ...own.medicationRequests]),
  };
}

const expected = JSON.parse(readFileSync(new URL('./fhir-r4-examples.expected.json', import.meta.url), 'utf8')) as {
  patients: Record<string, { cards: string[]; review?: string }>;
};

describe('the official FHIR R4 examples', () => {
  it('has every Patient of the package in the reviewed expectation file', () => {
    expect(patients.length).toBeGreaterThanOrEqual(20);
    expect(Object.keys(expected.patients).sort()).toEqual(patients.map((p) => p.id ?? '').sort());
  });

  it.each(patients.map((p) => p.id ?? ''))('Patient/%s: a spec-valid 200 with exactly the reviewed cards', async (patientId) => {
    const { body, now } = hookRequest(patientId);
    const { app } = testApp({ now: () => now, config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY } });
    const res = await request(app).post('/cds-services/glutamine-order-sign').send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const response = hookResponseSchema.parse(res.body);
    expect(response.cards.map(cardLabel)).toEqual(expected.patients[patientId]?.cards);
  });
});
