import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import type { FhirAccessPolicy } from '../src/cds/fhir-access.js';
import { startLocalFhirServer } from '../scripts/local-fhir-server.js';
import type { Intercept, LocalFhirServer } from '../scripts/local-fhir-server.js';
import { FIXTURES_DIR, PUBLIC_URL, TEST_FHIR_POLICY, cardLabel, carries, testApp } from './helpers.js';

/**
 * The service fetching what the prefetch lacks from a real FHIR engine (the local Medplum server),
 * CDS Hooks 2.0 §Prefetch: resource/Bundle used, null never refetched, OperationOutcome and absent
 * keys fetched, paginated Bundles completed, referenced Medications resolved.
 */

const PATIENT = 'pat-1001';
const TOKEN = 'opaque-access-token-7f3a';
const SIGN = '/cds-services/glutamine-order-sign';

const servers: LocalFhirServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fhirServer(resources: unknown[], intercept?: Intercept): Promise<LocalFhirServer> {
  const server = await startLocalFhirServer({ resources, ...(intercept ? { intercept } : {}) });
  servers.push(server);
  return server;
}

function scenario(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/** The patient's data of a scenario fixture, as resources for the FHIR server (every prefetch Bundle unpacked). */
function prefetchResources(body: Record<string, unknown>): unknown[] {
  return Object.values(body.prefetch as Record<string, unknown>).filter((v) => v !== null);
}

const cirrhosis = {
  resourceType: 'Condition',
  id: 'cond-cirrhosis',
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  code: { coding: [{ system: 'http://snomed.info/sct', code: '19943007', display: 'Cirrhosis of liver (disorder)' }] },
  subject: { reference: `Patient/${PATIENT}` },
};

/** Posts the hook call with this server as fhirServer; `token: null` sends no fhirAuthorization. */
function call(body: Record<string, unknown>, server: LocalFhirServer, policy: Partial<FhirAccessPolicy> = {}, token: string | null = TOKEN) {
  const { app, logs } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: { ...TEST_FHIR_POLICY, ...policy } } });
  const withServer = {
    ...body,
    fhirServer: server.baseUrl,
    ...(token ? { fhirAuthorization: { access_token: token, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'glutamine-cds' } } : {}),
  };
  return { response: request(app).post(SIGN).send(withServer), logs };
}

/** The cirrhosis scenario with one draft that names its product only by a Medication reference. */
function draftNamingOnlyMedication(reference: string): Record<string, unknown> {
  const fixture = scenario('cirrhosis-order-sign');
  const draft = {
    resourceType: 'MedicationRequest',
    id: 'draft-endari',
    status: 'draft',
    intent: 'order',
    subject: { reference: `Patient/${PATIENT}` },
    medicationReference: { reference },
  };
  return { ...fixture, context: { ...(fixture.context as Record<string, unknown>), draftOrders: { resourceType: 'Bundle', entry: [{ resource: draft }] } } };
}

function rules(body: unknown): string[] {
  return hookResponseSchema.parse(body).cards.map(cardLabel);
}

function requestedTypes(server: LocalFhirServer): string[] {
  return server.requests.map((r) => r.path.split('?')[0] ?? '');
}

describe('fetching from the EHR FHIR server', () => {
  it('with no prefetch at all, fetches every data requirement and returns the same cards as with full prefetch', async () => {
    const fixture = scenario('cirrhosis-high-ammonia-lactulose-ckd4');
    const server = await fhirServer(prefetchResources(fixture));
    const body = { ...fixture };
    delete body.prefetch;
    const { response } = call(body, server);
    const res = await response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical + hyperammonemia:critical + lactulose:warning', 'kidney-disease:warning']);
    expect(requestedTypes(server).sort()).toEqual(
      ['Condition', 'MedicationRequest', 'MedicationStatement', 'Observation', 'Observation', 'Observation', 'Observation', 'Patient/pat-1001'].sort(),
    );
  });

  it('asks as narrowly as FHIR allows: the patient, the LOINC codes, date=ge the look-back start, status', async () => {
    const server = await fhirServer([]);
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    await call(body, server).response.expect(200);
    const ammonia = server.requests.find((r) => r.path.includes('16362-6'))?.path ?? '';
    expect(decodeURIComponent(ammonia)).toBe(
      'Observation?patient=pat-1001&code=http://loinc.org|16362-6,http://loinc.org|1845-7,http://loinc.org|22763-7&_sort=-date&date=ge2026-10-27&_count=100',
    );
    expect(server.requests.find((r) => r.path.startsWith('MedicationRequest'))?.path).toBe(
      'MedicationRequest?patient=pat-1001&status=active,on-hold&_count=100',
    );
  });

  it('with a partial prefetch, fetches only the missing keys', async () => {
    const fixture = scenario('cirrhosis-order-sign');
    const server = await fhirServer(prefetchResources(fixture));
    const prefetch = { ...(fixture.prefetch as Record<string, unknown>) };
    delete prefetch.conditions;
    delete prefetch.medicationStatements;
    const res = await call({ ...fixture, prefetch }, server).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical']);
    expect(requestedTypes(server).sort()).toEqual(['Condition', 'MedicationStatement']);
  });

  it('never refetches a null key, and refetches an OperationOutcome key', async () => {
    const server = await fhirServer([cirrhosis]);
    const fixture = scenario('healthy-patient-no-card');
    const failure = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout' }] };
    const prefetch = { ...(fixture.prefetch as Record<string, unknown>), conditions: failure, medicationStatements: null };
    const res = await call({ ...fixture, prefetch }, server).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical']);
    expect(requestedTypes(server)).toEqual(['Condition']);
  });

  it('follows a paginated prefetch Bundle to the decisive condition on page 3', async () => {
    const filler = Array.from({ length: 4 }, (_, i) => ({
      ...cirrhosis,
      id: `cond-filler-${i}`,
      code: { text: 'Essential hypertension' },
    }));
    const server = await fhirServer([...filler, cirrhosis]);
    const fixture = scenario('healthy-patient-no-card');
    const firstPage = await (await fetch(`${server.baseUrl}/Condition?patient=${PATIENT}&_count=2`)).json();
    server.requests.length = 0;
    const prefetch = { ...(fixture.prefetch as Record<string, unknown>), conditions: firstPage };
    const res = await call({ ...fixture, prefetch }, server).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical']);
    expect(server.requests.map((r) => new URL(r.path, 'http://x').searchParams.get('_offset'))).toEqual(['2', '4']);
    expect(server.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('a newest-first lab search cut by the page cap has read the newest result: no "not checked" line (revision 2, item 30)', async () => {
    const ammonias = Array.from({ length: 6 }, (_, i) => ({
      resourceType: 'Observation',
      id: `nh3-${i}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '16362-6' }] },
      subject: { reference: `Patient/${PATIENT}` },
      effectiveDateTime: `2026-11-${String(20 + i).padStart(2, '0')}T08:00:00Z`,
      valueQuantity: { value: 20, unit: 'umol/L', system: 'http://unitsofmeasure.org', code: 'umol/L' },
    }));
    const server = await fhirServer([cirrhosis, ...ammonias]);
    const fixture = scenario('cirrhosis-order-sign');
    const firstPage = await (await fetch(`${server.baseUrl}/Observation?patient=${PATIENT}&code=http://loinc.org|16362-6&_sort=-date&_count=2`)).json();
    const prefetch = { ...(fixture.prefetch as Record<string, unknown>), ammonia: firstPage };
    const res = await call({ ...fixture, prefetch }, server, { maxPages: 1 }).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical']);
    // The cap still counts where it can change the answer: an unsorted condition search.
    const conditions = (await (await fetch(`${server.baseUrl}/Condition?patient=${PATIENT}&_count=0`)).json()) as Record<string, unknown>;
    const capped = await call(
      {
        ...fixture,
        prefetch: {
          ...prefetch,
          conditions: { ...conditions, link: [{ relation: 'next', url: `${server.baseUrl}/Condition?patient=${PATIENT}&_count=1&_offset=0` }] },
        },
      },
      server,
      { maxPages: 0 },
    ).response.expect(200);
    expect(hookResponseSchema.parse(capped.body).cards.find((c) => carries(c, 'incomplete-data'))?.detail).toContain(
      'only the first 0 pages of results were read',
    );
  });

  it('a MedicationStatement search the server does not support is no gap when MedicationRequests were read (revision 2, item 20)', async () => {
    const server = await fhirServer([cirrhosis], (r) =>
      r.path.startsWith('MedicationStatement')
        ? {
            status: 400,
            body: {
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'Resource type MedicationStatement is not supported' }],
            },
          }
        : undefined,
    );
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical']);
    // Without the other source, it is a gap again.
    const neither = await fhirServer([cirrhosis], (r) =>
      r.path.startsWith('Medication')
        ? { status: 405, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] } }
        : undefined,
    );
    const gaps = hookResponseSchema.parse((await call(body, neither).response.expect(200)).body).cards.find((c) => carries(c, 'incomplete-data'));
    expect(gaps?.detail).toContain(
      'current medication statements: not provided by the EHR, and fetching it failed: the FHIR server answered HTTP 405 (not supported)',
    );
  });

  it('fetches a Medication the draft order references, to recognise glutamine', async () => {
    const endari = {
      resourceType: 'Medication',
      id: 'med-endari',
      code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1928941' }] },
    };
    const server = await fhirServer([endari]);
    const res = await call(draftNamingOnlyMedication('Medication/med-endari'), server).response.expect(200);
    expect(hookResponseSchema.parse(res.body).cards[0]?.suggestions?.[0]?.actions?.[0]?.resourceId).toBe('MedicationRequest/draft-endari');
    expect(requestedTypes(server)).toEqual(['Medication/med-endari']);
  });

  it('says so when the Medication a draft names cannot be read: an info card, never no cards (revision 2, item 29)', async () => {
    const server = await fhirServer([], (r) =>
      r.path.startsWith('Medication/')
        ? { status: 503, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] } }
        : undefined,
    );
    const res = await call(draftNamingOnlyMedication('Medication/med-endari'), server).response.expect(200);
    const cards = hookResponseSchema.parse(res.body).cards;
    expect(cards.map(cardLabel)).toEqual(['unreadable-order:info']);
    expect(cards[0]?.detail).toContain(
      'MedicationRequest/draft-endari names its product only as Medication/med-endari, which could not be read: the FHIR server answered HTTP 503',
    );
    expect(requestedTypes(server)).toEqual(['Medication/med-endari']);
  });

  it('3,000 Medication references: a few _id searches, at most 50 requests and 8 at once (issue 13, outbound fan-out)', async () => {
    const medications = Array.from({ length: 3000 }, (_, i) => ({
      resourceType: 'Medication',
      id: `m-${i}`,
      code: { text: i === 2999 ? 'Lactulose 10 g/15 mL oral solution' : `Vitamin ${i}` },
    }));
    let inFlight = 0;
    let maxInFlight = 0;
    const server = await fhirServer(medications, async () => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((done) => setTimeout(done, 5));
      inFlight -= 1;
      return undefined;
    });
    const fixture = scenario('healthy-patient-no-card');
    const orders = medications.map((m, i) => ({
      resourceType: 'MedicationRequest',
      id: `rx-${i}`,
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${PATIENT}` },
      medicationReference: { reference: `Medication/${m.id}` },
    }));
    const prefetch = {
      ...(fixture.prefetch as Record<string, unknown>),
      medicationRequests: { resourceType: 'Bundle', type: 'searchset', entry: orders.map((resource) => ({ resource })) },
    };
    const res = await call({ ...fixture, prefetch }, server, { budgetMs: 10_000, timeoutMs: 5000 }).response.expect(200);
    expect(server.requests.length).toBeLessThanOrEqual(50);
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(server.requests.every((r) => r.path.startsWith('Medication?_id='))).toBe(true);
    // 60 searches of 50 would be needed; 50 ran, and the 500 Medications not read are said in one line.
    const detail = hookResponseSchema.parse(res.body).cards.find((c) => carries(c, 'incomplete-data'))?.detail ?? '';
    expect(detail).toContain('500 medications refer to a Medication that was not provided or could not be read');
    expect(detail.length).toBeLessThan(2000);
  });

  it('fetches the Medication a current medication order references (lactulose by reference)', async () => {
    const lactulose = { resourceType: 'Medication', id: 'med-lac', code: { text: 'Lactulose 10 g/15 mL oral solution' } };
    const server = await fhirServer([lactulose]);
    const fixture = scenario('healthy-patient-no-card');
    const order = {
      resourceType: 'MedicationRequest',
      id: 'rx-lac',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${PATIENT}` },
      medicationReference: { reference: 'Medication/med-lac' },
    };
    const prefetch = {
      ...(fixture.prefetch as Record<string, unknown>),
      medicationRequests: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: order }] },
    };
    const res = await call({ ...fixture, prefetch }, server).response.expect(200);
    expect(rules(res.body)).toEqual(['lactulose:warning']);
  });

  it.each([
    ['SMART v1', 'patient/Condition.read patient/Observation.read patient/Patient.read launch'],
    ['SMART v2', 'patient/Condition.rs patient/Observation.rs?category=laboratory patient/Patient.r openid'],
  ])('asks only for what the token allows (%s): the rest is reported as not checked, never requested', async (_syntax, scope) => {
    const fixture = scenario('cirrhosis-high-ammonia-lactulose-ckd4');
    const server = await fhirServer(prefetchResources(fixture));
    const body: Record<string, unknown> = { ...fixture, fhirServer: server.baseUrl };
    delete body.prefetch;
    body.fhirAuthorization = { access_token: TOKEN, token_type: 'Bearer', expires_in: 300, scope, subject: 'glutamine-cds' };
    const { app } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: TEST_FHIR_POLICY } });
    const res = await request(app).post(SIGN).send(body).expect(200);
    // Conditions, labs and the patient are read; no medication search is sent at all.
    expect(requestedTypes(server).filter((t) => t.startsWith('Medication'))).toEqual([]);
    expect(requestedTypes(server)).toContain('Condition');
    const cards = hookResponseSchema.parse(res.body).cards;
    expect(cards.some((c) => carries(c, 'liver-disease'))).toBe(true);
    const gaps = cards.find((c) => carries(c, 'incomplete-data'))?.detail ?? '';
    expect(gaps).toContain("the EHR's access token does not allow reading MedicationRequest");
  });

  it('fetches without a token when the EHR sends fhirServer but no fhirAuthorization (the Sandbox)', async () => {
    const server = await fhirServer([cirrhosis]);
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server, {}, null).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical']);
    expect(server.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  it('answers 412 with an OperationOutcome when nothing can be fetched either', async () => {
    const server = await fhirServer([], () => ({ status: 503, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] } }));
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server).response.expect(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toContain('fetching them from the FHIR server failed');
  });
});

describe('time budget and failures', () => {
  const slowObservations: Intercept = async (r) => {
    if (r.path.startsWith('Observation')) await new Promise((done) => setTimeout(done, 3000));
    return undefined;
  };

  it('reports what did not come back in time, cancels it, and still returns the cards it could compute', async () => {
    const server = await fhirServer([cirrhosis], slowObservations);
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server, { timeoutMs: 400, budgetMs: 2000 }).response.expect(200);
    expect(rules(res.body)).toEqual(['liver-disease:critical', 'incomplete-data:info']);
    const detail = hookResponseSchema.parse(res.body).cards[1]?.detail ?? '';
    expect(detail).toContain('ammonia results: not provided by the EHR, and fetching it failed: the FHIR server did not answer within 400 ms');
    expect(detail).toContain('eGFR results: not provided by the EHR, and fetching it failed');
    // The service gave up on every slow request (closed it) instead of waiting the server's 3 s out;
    // the fast ones were answered.
    const observations = server.requests.filter((r) => r.path.startsWith('Observation'));
    expect(observations.length).toBeGreaterThan(0);
    await expect.poll(() => observations.every((r) => r.cancelled === true)).toBe(true);
    expect(server.requests.filter((r) => !r.path.startsWith('Observation')).some((r) => r.cancelled)).toBe(false);
  });

  it("caps every request by what is left of the whole budget, and says it was the service's budget that ran out", async () => {
    const server = await fhirServer([cirrhosis], slowObservations);
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server, { timeoutMs: 2500, budgetMs: 600 }).response.expect(200);
    const card = hookResponseSchema.parse(res.body).cards.find((c) => carries(c, 'incomplete-data'));
    // Revision 2, item 31: the server was not slow by its own timeout; the service's budget ended the wait.
    expect(card?.detail).toContain("ammonia results: not provided by the EHR, and fetching it failed: the service's time budget (600 ms) ran out");
    expect(card?.detail).not.toContain('did not answer within');
    expect(card?.summary).toContain("the service's time budget ran out");
    await expect.poll(() => server.requests.filter((r) => r.path.startsWith('Observation')).every((r) => r.cancelled === true)).toBe(true);
  });

  it('reports 5xx and 401 answers per data requirement', async () => {
    const server = await fhirServer([cirrhosis], (r) => {
      if (r.path.startsWith('MedicationRequest'))
        return { status: 500, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] } };
      if (r.path.startsWith('MedicationStatement'))
        return { status: 401, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] } };
      return undefined;
    });
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server).response.expect(200);
    const detail = hookResponseSchema.parse(res.body).cards.find((c) => carries(c, 'incomplete-data'))?.detail ?? '';
    expect(detail).toContain('current medication orders: not provided by the EHR, and fetching it failed: the FHIR server answered HTTP 500');
    expect(detail).toContain('current medication statements: not provided by the EHR, and fetching it failed: the FHIR server answered HTTP 401');
    expect(server.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('sends the token only to the FHIR server: a next link to another origin is not followed', async () => {
    const elsewhere = await fhirServer([cirrhosis]);
    const server = await fhirServer([]);
    const fixture = scenario('healthy-patient-no-card');
    const page = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'next', url: `${elsewhere.baseUrl}/Condition?patient=${PATIENT}&_offset=1` }],
      entry: [],
    };
    const prefetch = { ...(fixture.prefetch as Record<string, unknown>), conditions: page };
    const res = await call({ ...fixture, prefetch }, server).response.expect(200);
    expect(elsewhere.requests).toEqual([]);
    const detail = hookResponseSchema.parse(res.body).cards.find((c) => carries(c, 'incomplete-data'))?.detail ?? '';
    expect(detail).toContain('a next-page link pointed to another server and was not followed');
  });

  it('refuses an http: FHIR server unless CDS_ALLOW_HTTP_FHIR, and says so', async () => {
    const server = await fhirServer([cirrhosis]);
    const body = { ...scenario('conditions-only-incomplete-data') };
    const res = await call(body, server, { allowHttp: false }).response.expect(200);
    expect(server.requests).toEqual([]);
    const detail = hookResponseSchema.parse(res.body).cards[0]?.detail ?? '';
    expect(detail).toContain(
      "ammonia results: not provided by the EHR, and not fetched: the EHR's FHIR server address is not secure (http), and this service calls only https servers",
    );
  });

  it('calls only servers on CDS_FHIR_SERVER_ALLOWLIST when it is set', async () => {
    const server = await fhirServer([cirrhosis]);
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const refused = await call(body, server, { allowlist: ['https://ehr.example.org/fhir'] }).response.expect(412);
    expect(refused.body.issue[0].diagnostics).toContain("they were not fetched: the EHR's FHIR server is not one this service is set up to call");
    expect(server.requests).toEqual([]);
    const allowed = await call(body, server, { allowlist: [`${server.baseUrl}/`] }).response.expect(200);
    expect(rules(allowed.body)).toEqual(['liver-disease:critical']);
  });

  it('caps the size of an answer', async () => {
    const big = { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { ...cirrhosis, note: [{ text: 'x'.repeat(20000) }] } }] };
    const server = await fhirServer([], (r) => (r.path.startsWith('Condition') ? { status: 200, body: big } : undefined));
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const res = await call(body, server, { maxResponseBytes: 10000 }).response.expect(200);
    const detail = hookResponseSchema.parse(res.body).cards.find((c) => carries(c, 'incomplete-data'))?.detail ?? '';
    expect(detail).toContain("fetching it failed: the FHIR server's answer was larger than 10000 bytes");
  });

  it('never writes the access token, the FHIR URLs or patient data to the log', async () => {
    const server = await fhirServer([cirrhosis]);
    const body = scenario('cirrhosis-order-sign');
    delete body.prefetch;
    const { response, logs } = call(body, server);
    await response.expect(200);
    const text = logs.join('\n');
    for (const secret of [TOKEN, PATIENT, server.baseUrl, 'Cirrhosis']) expect(text).not.toContain(secret);
  });
});
