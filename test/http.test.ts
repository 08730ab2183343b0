import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { FIXTURES_DIR, PUBLIC_URL, TEST_FHIR_POLICY, testApp } from './helpers.js';

const SIGN = '/cds-services/glutamine-order-sign';
const SELECT = '/cds-services/glutamine-order-select';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/** A copy of a fixture with one dotted path removed. */
function without(name: string, path: string): Record<string, unknown> {
  const body = fixture(name);
  const keys = path.split('.');
  let node = body;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  Reflect.deleteProperty(node, keys[keys.length - 1] ?? '');
  return body;
}

/** JSON values the spec forbids in a response: null, "", [], {} (CDS Hooks 2.0 §Use of JSON). */
function emptyValues(value: unknown, path = '$'): string[] {
  if (value === null || value === '') return [path];
  if (Array.isArray(value)) {
    if (value.length === 0 && path !== '$.cards') return [path];
    return value.flatMap((v, i) => emptyValues(v, `${path}[${i}]`));
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return [path];
    return entries.flatMap(([k, v]) => emptyValues(v, `${path}.${k}`));
  }
  return [];
}

describe('GET /cds-services (discovery)', () => {
  it('lists the three services with hook, hookVersion, title, description, usageRequirements and prefetch', async () => {
    const { app } = testApp();
    const res = await request(app).get('/cds-services').expect(200);
    const services = res.body.services as Array<Record<string, unknown>>;
    // hookVersion is each hook definition's own (3.0 ballot discovery field; 2.0 clients ignore it):
    // order-select and order-sign 1.0, the medication-verify draft 0.1.0.
    expect(services.map((s) => [s.id, s.hook, s.hookVersion])).toEqual([
      ['glutamine-order-select', 'order-select', '1.0'],
      ['glutamine-order-sign', 'order-sign', '1.0'],
      ['glutamine-medication-verify', 'medication-verify', '0.1.0'],
    ]);
    for (const service of services) {
      expect(service.title).toEqual(expect.any(String));
      expect(service.description).toEqual(expect.any(String));
      expect(service.usageRequirements).toEqual(expect.any(String));
      expect(Object.keys(service.prefetch as object)).toEqual([
        'patient',
        'conditions',
        'ammonia',
        'egfr',
        'creatinine',
        'bodyWeight',
        'medicationRequests',
        'medicationStatements',
      ]);
    }
    expect(emptyValues(res.body)).toEqual([]);
  });

  it('medication-verify without the order being verified: a 400 naming context.medication', async () => {
    const { app } = testApp();
    const body = {
      hook: 'medication-verify',
      hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
      context: { userId: 'Practitioner/ph-1', patientId: 'pat-1001' },
    };
    const res = await request(app).post('/cds-services/glutamine-medication-verify').send(body).expect(400);
    expect(res.body.issue[0]).toMatchObject({ expression: ['context.medication'], diagnostics: expect.stringContaining('context.medication is required') });
    // And order-sign still names its own missing field.
    const sign = await request(app)
      .post(SIGN)
      .send({ ...body, hook: 'order-sign' })
      .expect(400);
    expect(sign.body.issue[0]).toMatchObject({ expression: ['context.draftOrders'] });
  });

  it('uses only the prefetch tokens CDS Hooks 2.0 allows', async () => {
    const { app } = testApp();
    const res = await request(app).get('/cds-services').expect(200);
    const templates = (res.body.services as Array<{ prefetch: Record<string, string> }>).flatMap((s) => Object.values(s.prefetch));
    const tokens = new Set(templates.flatMap((t) => [...t.matchAll(/\{\{([^}]*)\}\}/g)].map((m) => m[1])));
    expect([...tokens]).toEqual(['context.patientId']);
  });

  it('asks for the labs by their LOINC codes', async () => {
    const { app } = testApp();
    const res = await request(app).get('/cds-services').expect(200);
    const prefetch = (res.body.services as Array<{ prefetch: Record<string, string> }>)[0]?.prefetch ?? {};
    expect(prefetch.patient).toBe('Patient/{{context.patientId}}');
    expect(prefetch.ammonia).toBe(
      'Observation?patient={{context.patientId}}&code=http://loinc.org|16362-6,http://loinc.org|1845-7,http://loinc.org|22763-7&_sort=-date',
    );
    expect(prefetch.egfr).toContain('http://loinc.org|98979-8');
    expect(prefetch.creatinine).toContain('http://loinc.org|2160-0');
    expect(prefetch.bodyWeight).toContain('http://loinc.org|29463-7');
    expect(prefetch.medicationRequests).toBe('MedicationRequest?patient={{context.patientId}}&status=active,on-hold');
  });
});

describe('POST /cds-services/{id}', () => {
  it('answers a glutamine order for a patient with cirrhosis with one spec-exact critical card', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    const { cards } = hookResponseSchema.parse(res.body);
    expect(cards).toHaveLength(1);
    expect(cards[0]).toEqual({
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      summary: 'Avoid glutamine: advanced liver disease (risk of hepatic encephalopathy)',
      indicator: 'critical',
      detail: expect.stringContaining('Cirrhosis of liver (disorder) — SNOMED CT 19943007, onset 2024-03-14'),
      source: {
        label: 'Glutamine prescribing guidance',
        url: 'https://cds.example.org/rules/liver-disease',
        topic: { system: 'urn:glutamine-cds:rule', code: 'liver-disease', display: 'Liver disease' },
      },
      suggestions: [
        {
          label: 'Remove glutamine order',
          uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
          actions: [{ type: 'delete', description: 'Remove the draft glutamine order', resourceId: 'MedicationRequest/glutamine-1' }],
        },
      ],
      selectionBehavior: 'at-most-one',
      overrideReasons: [
        // HL7's standard override reasons (non-adherence-reason-codes), with the code system's own display text.
        {
          system: 'http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes',
          code: 'risk-benefit-ratio',
          display: 'Recipient assessment of risk/benefit ratio',
        },
        {
          system: 'http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes',
          code: 'expert-contradicts',
          display: 'Advice from expert contradicts the recommended action',
        },
        { system: 'http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes', code: 'cds-not-applicable', display: 'PC CDS does not apply to patient' },
      ],
      // What the card carries, machine-readably (revision 2, item 26).
      extension: { 'glutamine-cds.findings': [{ rule: 'liver-disease', indicator: 'critical' }], 'glutamine-cds.order': 'MedicationRequest/glutamine-1' },
    });
    expect(cards[0]?.uuid).not.toBe(cards[0]?.suggestions?.[0]?.uuid);
  });

  it('never emits null or empty fields, and every summary is under 140 characters', async () => {
    const { app } = testApp();
    for (const name of [
      'cirrhosis-high-ammonia-lactulose-ckd4',
      'sandbox-lenient-payload',
      'order-sign-two-glutamine-orders',
      'ammonia-unconvertible-unit-reported',
    ]) {
      const body = fixture(name);
      const path = name === 'sandbox-lenient-payload' ? SELECT : SIGN;
      const res = await request(app).post(path).send(body).expect(200);
      expect(emptyValues(res.body), name).toEqual([]);
      for (const card of hookResponseSchema.parse(res.body).cards) expect(card.summary.length).toBeLessThan(140);
    }
  });

  it('answers a healthy patient with exactly {"cards": []}', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(fixture('healthy-patient-no-card')).expect(200);
    expect(res.body).toEqual({ cards: [] });
  });

  it('accepts a body sent without a JSON Content-Type', async () => {
    const { app } = testApp();
    const res = await request(app)
      .post(SIGN)
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify(fixture('cirrhosis-order-sign')))
      .expect(200);
    expect(res.body.cards).toHaveLength(1);
  });

  it('ignores unknown fields and extensions', async () => {
    const { app } = testApp();
    const body = { ...fixture('cirrhosis-order-sign'), extension: { 'org.example.flag': true }, somethingNew: 1 };
    const res = await request(app).post(SIGN).send(body).expect(200);
    expect(res.body.cards).toHaveLength(1);
  });

  it('accepts a patientId given as Patient/<id>', async () => {
    const { app } = testApp();
    const body = fixture('cirrhosis-order-sign');
    (body.context as Record<string, unknown>).patientId = 'Patient/pat-1001';
    const res = await request(app).post(SIGN).send(body).expect(200);
    expect(res.body.cards).toHaveLength(1);
  });

  it('answers 412 with an OperationOutcome when no patient data at all is available', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(fixture('no-prefetch-412')).expect(412);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'incomplete',
          details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_PREFETCH_UNAVAILABLE' }], text: 'ERR_PREFETCH_UNAVAILABLE' },
          diagnostics: expect.stringContaining(
            "prefetch 'conditions', 'ammonia', 'egfr', 'creatinine', 'bodyWeight', 'medicationRequests', 'medicationStatements' missing",
          ),
        },
      ],
    });
  });

  it('treats prefetch OperationOutcomes as unavailable data (412 when every key failed)', async () => {
    const { app } = testApp();
    const body = fixture('healthy-patient-no-card');
    const failure = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] };
    body.prefetch = Object.fromEntries(Object.keys(body.prefetch as object).map((k) => [k, failure]));
    await request(app).post(SIGN).send(body).expect(412);
  });
});

describe('bad input gets a 4xx naming what is wrong', () => {
  it.each([
    ['hook', 'hook is required'],
    ['hookInstance', 'hookInstance is required'],
    ['context', 'context is required'],
    ['context.patientId', 'context.patientId is required'],
    ['context.draftOrders', 'context.draftOrders is required'],
  ])('missing %s → 400', async (path, message) => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send(without('cirrhosis-order-sign', path)).expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue).toContainEqual(
      expect.objectContaining({
        severity: 'error',
        diagnostics: message,
        expression: [path],
        details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_BAD_REQUEST' }], text: 'ERR_BAD_REQUEST' },
      }),
    );
  });

  it('names the field and the expected type when a field has the wrong type', async () => {
    const { app } = testApp();
    const body = fixture('cirrhosis-order-sign');
    (body.context as Record<string, unknown>).draftOrders = 'not a bundle';
    const res = await request(app).post(SIGN).send(body).expect(400);
    expect(res.body.issue[0].diagnostics).toBe('context.draftOrders must be a FHIR Bundle object');
  });

  it('malformed JSON → 400 without internals', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send('{"hook": "order-sign",').expect(400);
    expect(res.body.issue[0]).toMatchObject({
      code: 'structure',
      diagnostics: 'The request body is not valid JSON',
      details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_MALFORMED_JSON' }], text: 'ERR_MALFORMED_JSON' },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js|SyntaxError|node_modules/);
  });

  it('a body starting with a byte order mark is read as the JSON after it', async () => {
    const { app } = testApp();
    const text = `\uFEFF${readFileSync(join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'), 'utf8')}`;
    const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(text).expect(200);
    expect(res.body.cards.map((c: { indicator: string }) => c.indicator)).toEqual(['critical']);
  });

  it('an empty body → 400 naming the body', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).expect(400);
    expect(res.body.issue[0].diagnostics).toBe('request body is required');
  });

  it('a JSON array body → 400', async () => {
    const { app } = testApp();
    const res = await request(app).post(SIGN).send([1, 2]).expect(400);
    expect(res.body.issue[0].diagnostics).toBe('request body must be a JSON object');
  });

  it('unknown service id → 404', async () => {
    const { app } = testApp();
    const res = await request(app).post('/cds-services/no-such-service').send(fixture('cirrhosis-order-sign')).expect(404);
    expect(res.body.issue[0]).toMatchObject({ code: 'not-found', diagnostics: "No CDS service with id 'no-such-service'" });
  });

  it('a hook the service does not serve → 400', async () => {
    const { app } = testApp();
    const res = await request(app).post(SELECT).send(fixture('cirrhosis-order-sign')).expect(400);
    expect(res.body.issue[0]).toMatchObject({
      expression: ['hook'],
      details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_HOOK_MISMATCH' }], text: 'ERR_HOOK_MISMATCH' },
    });
    expect(res.body.issue[0].diagnostics).toBe("hook must be 'order-select' for this service");
  });

  it('a body over CDS_MAX_BODY → 413', async () => {
    const { app } = testApp({ config: { publicUrl: 'https://cds.example.org', maxBodyBytes: 2048, fhir: TEST_FHIR_POLICY } });
    const res = await request(app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(413);
    expect(res.body.issue[0]).toMatchObject({
      code: 'too-long',
      details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_PAYLOAD_TOO_LARGE' }], text: 'ERR_PAYLOAD_TOO_LARGE' },
    });
  });

  it('a wrong method → 405 with Allow', async () => {
    const { app } = testApp();
    const res = await request(app).get(SIGN).expect(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('an unknown path → 404 OperationOutcome', async () => {
    const { app } = testApp();
    const res = await request(app).get('/nothing-here').expect(404);
    expect(res.body.issue[0].details.text).toBe('ERR_NOT_FOUND');
  });

  it('an unexpected failure → 500 with a reference, no stack, logged without request content', async () => {
    const { app, logs } = testApp({
      now: () => {
        throw new Error('clock exploded');
      },
    });
    const res = await request(app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(500);
    expect(res.body.issue[0].diagnostics).toMatch(/^Internal error; reference [0-9a-f-]{36}$/);
    expect(JSON.stringify(res.body)).not.toContain('clock exploded');
    const errorLine = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'unhandled error');
    expect(errorLine?.requestId).toBe(res.headers['x-request-id']);
    expect(logs.join('\n')).not.toContain('pat-1001');
  });
});

describe('CORS, health and rule pages', () => {
  it('answers a browser preflight with 204 and the CDS Hooks headers, without auth', async () => {
    const { app } = testApp();
    const res = await request(app)
      .options(SIGN)
      .set('Origin', 'https://sandbox.cds-hooks.org')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type')
      .expect(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-methods']).toBe('GET,POST,OPTIONS');
    expect(res.headers['access-control-allow-headers']).toBe('Authorization,Content-Type,Accept');
  });

  it('with CDS_CORS_ORIGINS set, allows only those origins', async () => {
    const { app } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024 * 1024, fhir: TEST_FHIR_POLICY, corsOrigins: ['https://ehr.example.org'] } });
    const allowed = await request(app).get('/cds-services').set('Origin', 'https://ehr.example.org').expect(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://ehr.example.org');
    const other = await request(app).get('/cds-services').set('Origin', 'https://evil.example.org').expect(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends security headers (helmet)', async () => {
    const { app } = testApp();
    const res = await request(app).get('/healthz').expect(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('adds CORS headers to normal responses', async () => {
    const { app } = testApp();
    const res = await request(app).get('/cds-services').set('Origin', 'https://sandbox.cds-hooks.org').expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('GET /healthz', async () => {
    const { app } = testApp();
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok', rules: 14, services: 3 });
  });

  it('serves the page a card source links to, as HTML and as JSON', async () => {
    const { app } = testApp();
    const html = await request(app).get('/rules/hyperammonemia').set('Accept', 'text/html').expect(200);
    expect(html.text).toContain('<h1>High ammonia</h1>');
    expect(html.text).toContain('Latest Ammonia of the last 30 days at least 2 × the upper limit');
    const json = await request(app).get('/rules/kidney-disease').set('Accept', 'application/json').expect(200);
    expect(json.body.tiers[0].checks).toEqual([
      expect.stringMatching(/^Active condition in value set "CKD stage 5, end-stage renal disease or dialysis dependence" \(13 codes\)$/),
      'Latest eGFR of the last 90 days (calculated with CKD-EPI 2021 from the latest creatinine of the last 90 days when none is reported) below 30 mL/min/1.73 m²',
    ]);
    await request(app).get('/rules/nope').expect(404);
  });
});

describe('logging', () => {
  it('logs the route pattern, not the raw path, so a misdirected URL cannot leak an id', async () => {
    const { app, logs } = testApp();
    await request(app).get('/Patient/pat-1001').expect(404);
    await request(app).get('/rules/liver-disease').expect(200);
    const lines = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.route)).toEqual(['(unmatched)', '/rules/:ruleId']);
    expect(logs.join('\n')).not.toContain('pat-1001');
  });

  it('writes one line per hook call with ids and rule ids, never patient data, tokens or card text', async () => {
    const { app, logs } = testApp();
    const body = {
      ...fixture('cirrhosis-order-sign'),
      fhirAuthorization: { access_token: 'secret-token-123', token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'cds' },
    };
    await request(app).post(SIGN).set('Authorization', 'Bearer header.jwt.sig').send(body).expect(200);
    expect(logs).toHaveLength(1);
    const line = JSON.parse(logs[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({
      msg: 'request',
      method: 'POST',
      route: '/cds-services/:serviceId',
      status: 200,
      serviceId: 'glutamine-order-sign',
      hookInstance: fixture('cirrhosis-order-sign').hookInstance,
      ruleIds: ['liver-disease'],
    });
    for (const secret of ['pat-1001', 'secret-token-123', 'header.jwt.sig', 'Cirrhosis', '19943007', 'Avoid glutamine']) {
      expect(logs[0]).not.toContain(secret);
    }
  });
});
