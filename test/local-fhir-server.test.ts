import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { ListenError, startLocalFhirServer } from '../scripts/local-fhir-server.js';
import type { LocalFhirServer } from '../scripts/local-fhir-server.js';
import { PUBLIC_URL, TEST_FHIR_POLICY, cardLabel, testApp } from './helpers.js';

/**
 * `npm run fhir-server` as the CDS Hooks Sandbox uses it (a page of another origin: CORS preflight,
 * `GET /metadata`, `GET Patient/{id}`, `Condition?patient=`, prefetch by form-encoded
 * `POST {Type}/_search`), and loaded with Synthea-shaped transaction bundles (`urn:uuid:` references).
 */

const SANDBOX_ORIGIN = 'http://localhost:8080';
const servers: LocalFhirServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fhirServer(resources: unknown[] = [], port?: number): Promise<LocalFhirServer> {
  const server = await startLocalFhirServer({ resources, ...(port === undefined ? {} : { port }) });
  servers.push(server);
  return server;
}

const uuid = (n: number): string => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const snomed = (code: string, display: string) => ({ coding: [{ system: 'http://snomed.info/sct', code, display }] });
const ACTIVE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] };

/** Two patients as Synthea writes them: one transaction Bundle each, ids only in fullUrl, references by urn:uuid. */
function syntheaBundle(patient: number, conditions: Array<{ code: string; display: string }>): Record<string, unknown> {
  const encounter = patient + 100;
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: uuid(patient),
        resource: { resourceType: 'Patient', name: [{ family: `Synthetic${patient}` }], gender: 'female', birthDate: '1970-01-01' },
        request: { method: 'POST', url: 'Patient' },
      },
      {
        fullUrl: uuid(encounter),
        resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: uuid(patient) } },
        request: { method: 'POST', url: 'Encounter' },
      },
      ...conditions.map((c, i) => ({
        fullUrl: uuid(patient + 1000 + i),
        resource: {
          resourceType: 'Condition',
          clinicalStatus: ACTIVE,
          code: snomed(c.code, c.display),
          subject: { reference: uuid(patient) },
          encounter: { reference: uuid(encounter) },
          onsetDateTime: '2024-03-14',
        },
        request: { method: 'POST', url: 'Condition' },
      })),
    ],
  };
}
const patientId = (n: number): string => uuid(n).slice('urn:uuid:'.length);
const CIRRHOSIS = { code: '19943007', display: 'Cirrhosis of liver (disorder)' };
const SINUSITIS = { code: '40055000', display: 'Chronic sinusitis (disorder)' };

describe('the local FHIR server, driven as the CDS Hooks Sandbox drives it', () => {
  it('answers the Sandbox start-up sequence: preflight, metadata, the patient, their conditions, a POST _search', async () => {
    const server = await fhirServer([syntheaBundle(1, [CIRRHOSIS]), syntheaBundle(2, [SINUSITIS])]);
    const base = server.baseUrl;
    const preflight = await fetch(`${base}/metadata`, {
      method: 'OPTIONS',
      headers: { Origin: SANDBOX_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');

    // The Sandbox asks with its own (pre-R4) media type and needs a non-empty CapabilityStatement.
    const metadata = await fetch(`${base}/metadata`, { headers: { Accept: 'application/json+fhir', Origin: SANDBOX_ORIGIN } });
    expect(metadata.status).toBe(200);
    expect(metadata.headers.get('access-control-allow-origin')).toBe('*');
    const capability = (await metadata.json()) as {
      resourceType: string;
      fhirVersion: string;
      kind: string;
      rest: Array<{ resource: Array<{ type: string; searchParam: Array<{ name: string }> }> }>;
    };
    expect(capability).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance' });
    const condition = capability.rest[0]?.resource.find((r) => r.type === 'Condition');
    expect(condition?.searchParam.map((p) => p.name)).toEqual(expect.arrayContaining(['patient', 'code', 'clinical-status']));

    const patient = await fetch(`${base}/Patient/${patientId(1)}`, { headers: { Accept: 'application/json+fhir' } });
    expect(await patient.json()).toMatchObject({ resourceType: 'Patient', id: patientId(1) });

    const conditions = (await (await fetch(`${base}/Condition?patient=${patientId(1)}`)).json()) as {
      total: number;
      entry: Array<{ resource: { code: { coding: Array<{ code: string }> } } }>;
    };
    expect(conditions.total).toBe(1);
    expect(conditions.entry[0]?.resource.code.coding[0]?.code).toBe('19943007');

    const posted = await fetch(`${base}/Condition/_search`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: SANDBOX_ORIGIN },
      body: new URLSearchParams({ patient: patientId(2) }).toString(),
    });
    expect(posted.status).toBe(200);
    expect(posted.headers.get('access-control-allow-origin')).toBe('*');
    const searched = (await posted.json()) as {
      resourceType: string;
      type: string;
      total: number;
      entry: Array<{ resource: { code: { coding: Array<{ code: string }> } } }>;
    };
    expect(searched).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(searched.entry[0]?.resource.code.coding[0]?.code).toBe('40055000');
  });

  it('gives each Synthea patient their own conditions, loaded from files or POSTed as a transaction, and the service warns on the right one', async () => {
    const fromFiles = await fhirServer([syntheaBundle(1, [CIRRHOSIS]), syntheaBundle(2, [SINUSITIS])]);
    const posted = await fhirServer();
    for (const patient of [1, 2]) {
      const answer = await fetch(posted.baseUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify(syntheaBundle(patient, [patient === 1 ? CIRRHOSIS : SINUSITIS])),
      });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    }
    for (const server of [fromFiles, posted]) {
      const codes = async (patient: number): Promise<string[]> => {
        const bundle = (await (await fetch(`${server.baseUrl}/Condition?patient=${patientId(patient)}`)).json()) as {
          entry?: Array<{ resource: { subject: { reference: string }; encounter: { reference: string }; code: { coding: Array<{ code: string }> } } }>;
        };
        for (const e of bundle.entry ?? []) {
          expect(e.resource.subject.reference).toBe(`Patient/${patientId(patient)}`);
          expect(e.resource.encounter.reference).toBe(`Encounter/${patientId(patient + 100)}`);
        }
        return (bundle.entry ?? []).map((e) => e.resource.code.coding[0]?.code ?? '');
      };
      expect(await codes(1)).toEqual(['19943007']);
      expect(await codes(2)).toEqual(['40055000']);
    }

    // The service, given this server as fhirServer and no prefetch (the Sandbox's order-sign call,
    // abbreviated), finds patient 1's cirrhosis and nothing of the kind for patient 2.
    const cardsFor = async (patient: number): Promise<string[]> => {
      const { app } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: TEST_FHIR_POLICY } });
      const draft = {
        resourceType: 'MedicationRequest',
        id: 'request-123',
        status: 'draft',
        intent: 'order',
        subject: { reference: `Patient/${patientId(patient)}` },
        medicationCodeableConcept: {
          coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '199153', display: 'Glutamine 500 MG Oral Tablet' }],
        },
      };
      const body = {
        hook: 'order-sign',
        hookInstance: '0b1e6f3e-2c4f-4a57-9d0e-6a1f2b3c4d5e',
        fhirServer: fromFiles.baseUrl,
        context: {
          userId: 'Practitioner/COREPRACTITIONER1',
          patientId: patientId(patient),
          draftOrders: { resourceType: 'Bundle', entry: [{ resource: draft }] },
        },
      };
      const res = await request(app).post('/cds-services/glutamine-order-sign').send(body).expect(200);
      return hookResponseSchema.parse(res.body).cards.map(cardLabel);
    };
    expect((await cardsFor(1)).join(' ')).toContain('liver-disease:critical');
    expect((await cardsFor(2)).join(' ')).not.toContain('liver-disease');
  });

  it('finds the same resources through the patient index as through a full search', async () => {
    const resources: unknown[] = [
      { resourceType: 'Patient', id: 'p1' },
      { resourceType: 'Patient', id: 'p2' },
    ];
    const loinc = ['62238-1', '33914-3', '2160-0', '29463-7'];
    for (let i = 0; i < 120; i++) {
      resources.push({
        resourceType: 'Observation',
        id: `o${i}`,
        status: i % 7 === 0 ? 'preliminary' : 'final',
        code: { coding: [{ system: i % 11 === 0 ? 'http://example.org/local' : 'http://loinc.org', code: loinc[i % loinc.length] }] },
        subject: { reference: `Patient/p${(i % 2) + 1}` },
        effectiveDateTime: `2026-${String((i % 12) + 1).padStart(2, '0')}-01`,
      });
    }
    const server = await fhirServer(resources);
    const ids = async (query: string): Promise<string[]> => {
      const bundle = (await (await fetch(`${server.baseUrl}/Observation?${query}&_count=200`)).json()) as { entry?: Array<{ resource: { id: string } }> };
      return (bundle.entry ?? []).map((e) => e.resource.id).sort();
    };
    for (const filter of [
      'code=33914-3',
      'code=http://loinc.org|33914-3,http://loinc.org|62238-1',
      'code=http://example.org/local|',
      'code=|33914-3',
      'status=final&code=2160-0&date=ge2026-06-01',
      '',
    ]) {
      const indexed = await ids(`patient=p1${filter ? `&${filter}` : ''}`);
      // A patient list (two values) is not confined to one patient, so it takes Medplum's full search.
      const full = await ids(`patient=Patient/p1,Patient/nobody${filter ? `&${filter}` : ''}`);
      expect(indexed, filter).toEqual(full);
    }
    expect((await ids('patient=p1')).length).toBe(60);
  });

  it('answers a body that is not JSON with a 400, and names a port in use', async () => {
    const server = await fhirServer();
    const bad = await fetch(`${server.baseUrl}/Patient/x`, { method: 'PUT', headers: { 'Content-Type': 'application/fhir+json' }, body: '{"resourceType":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'invalid' }] });
    const port = Number(new URL(server.baseUrl).port);
    const second = startLocalFhirServer({ port });
    await expect(second).rejects.toBeInstanceOf(ListenError);
    await expect(second).rejects.toThrow(`port ${String(port)} on 127.0.0.1 is already in use`);
  });
});
