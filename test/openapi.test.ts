import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import request from 'supertest';
import type { Response } from 'supertest';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR, PUBLIC_URL, testApp } from './helpers.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';

/**
 * GET /openapi.json, held to what the service really does: every answer below — real responses of
 * the running app, good and bad — validates against the schema the document gives for its path,
 * method and status, and every fixture request against the request schema.
 */

interface Operation {
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

const ADMIN = 'a-long-admin-token-for-tests';
const SIGN = '/cds-services/glutamine-order-sign';
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Record<string, unknown>;

async function documentAndValidator() {
  const store = new SqliteAuditStore(':memory:');
  const { app } = testApp({
    store,
    config: {
      publicUrl: PUBLIC_URL,
      maxBodyBytes: 10 * 1024 * 1024,
      fhir: { timeoutMs: 1, budgetMs: 1, allowHttp: false, maxPages: 1, maxResponseBytes: 1024, allowlist: ['https://none.invalid'] },
      adminToken: ADMIN,
    },
  });
  const res = await request(app).get('/openapi.json').expect(200);
  const doc = res.body as OpenApi;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'https://glutamine-cds.invalid/openapi.json', components: doc.components });
  const schemaFor = (schema: unknown) => {
    const { $ref } = schema as { $ref?: string };
    return ajv.compile($ref ? { $ref: `https://glutamine-cds.invalid/openapi.json${$ref}` } : (schema as object));
  };
  /** Checks a real response against the document's schema for that path template, method and status. */
  const conforms = (path: string, method: string, res: Response): void => {
    const operation = doc.paths[path]?.[method];
    expect(operation, `${method} ${path} documented`).toBeDefined();
    const documented = operation?.responses[String(res.status)];
    expect(documented, `${method} ${path} ${String(res.status)} documented`).toBeDefined();
    const type = String(res.headers['content-type']).split(';')[0] ?? '';
    const content = documented?.content?.[type];
    expect(content, `${method} ${path} ${String(res.status)} as ${type}`).toBeDefined();
    const validate = schemaFor(content?.schema);
    const body: unknown = type.includes('json') ? res.body : res.text;
    expect(validate(body), `${method} ${path} ${String(res.status)}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  };
  return { app, doc, conforms, schemaFor, ajv, store };
}

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document naming every service and rule', async () => {
    const { doc } = await documentAndValidator();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/cds-services',
        '/cds-services/{serviceId}',
        '/cds-services/{serviceId}/feedback',
        '/analytics/rules',
        '/rules',
        '/rules/{ruleId}',
        '/healthz',
        '/readyz',
        '/metrics',
        '/openapi.json',
      ]),
    );
    expect(JSON.stringify(doc)).toContain('glutamine-medication-verify');
  });

  it('has schemas that refuse what the service would never send', async () => {
    const { schemaFor, doc } = await documentAndValidator();
    const cards = schemaFor(doc.paths['/cds-services/{serviceId}']?.post?.responses['200']?.content?.['application/json']?.schema);
    const card = { uuid: '2b1f3a4e-5c6d-4e7f-8a9b-0c1d2e3f4a5b', summary: 'A summary', indicator: 'warning', source: { label: 'glutamine-cds' } };
    expect(cards({ cards: [card] })).toBe(true);
    expect(cards({ cards: [{ ...card, indicator: 'hard-stop' }] })).toBe(false);
    expect(cards({ cards: [{ ...card, summary: 'x'.repeat(140) }] })).toBe(false);
    expect(cards({ cards: [{ ...card, detail: '' }] })).toBe(false);
    expect(cards({ cards: [], unknown: 1 })).toBe(false);
    const outcome = schemaFor(doc.paths['/cds-services/{serviceId}']?.post?.responses['400']?.content?.['application/fhir+json']?.schema);
    expect(outcome({ resourceType: 'OperationOutcome', issue: [] })).toBe(false);
  });

  it('describes every fixture request as a valid HookRequest (the Sandbox-style lenient payload too)', async () => {
    const { schemaFor, doc, ajv } = await documentAndValidator();
    const validate = schemaFor(doc.paths['/cds-services/{serviceId}']?.post?.requestBody?.content['application/json']?.schema);
    const names = readdirSync(join(FIXTURES_DIR, 'scenarios')).filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'));
    for (const name of names) {
      const body = JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', name), 'utf8')) as unknown;
      const expected = JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', name.replace('.json', '.expected.json')), 'utf8')) as { status: number };
      // The service's own parser decides 400s; a request it accepts must be one the document accepts.
      if (expected.status === 200) expect(validate(body), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    expect(validate({ hook: 'order-sign' }), 'a request without context is not a HookRequest').toBe(false);
  });

  it('matches what the service answers: discovery, hook calls (200, 400, 404, 412), feedback, analytics, rules, health', async () => {
    const { app, conforms, store } = await documentAndValidator();
    conforms('/cds-services', 'get', await request(app).get('/cds-services'));
    const sign = await request(app).post(SIGN).send(fixture('cirrhosis-high-ammonia-lactulose-ckd4'));
    expect(sign.status).toBe(200);
    conforms('/cds-services/{serviceId}', 'post', sign);
    for (const name of ['healthy-patient-no-card', 'sandbox-lenient-payload', 'r2-25-every-finding-at-most-six-cards']) {
      conforms('/cds-services/{serviceId}', 'post', await request(app).post(SIGN).send(fixture(name)));
    }
    conforms('/cds-services/{serviceId}', 'post', await request(app).post('/cds-services/glutamine-order-select').send(fixture('cirrhosis-order-sign')));
    conforms('/cds-services/{serviceId}', 'post', await request(app).post(SIGN).send({ hook: 'order-sign' }));
    conforms('/cds-services/{serviceId}', 'post', await request(app).post('/cds-services/no-such-service').send(fixture('cirrhosis-order-sign')));
    const noData = fixture('cirrhosis-order-sign');
    delete noData.prefetch;
    delete noData.fhirServer;
    conforms('/cds-services/{serviceId}', 'post', await request(app).post(SIGN).send(noData));

    const card = (sign.body as { cards: Array<{ uuid: string }> }).cards[0]?.uuid ?? '';
    const feedback = await request(app)
      .post(`${SIGN}/feedback`)
      .send({
        feedback: [
          {
            card,
            outcome: 'overridden',
            outcomeTimestamp: '2026-11-26T12:00:00Z',
            overrideReason: { reason: { system: 'http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes', code: 'risk-benefit-ratio' } },
          },
        ],
      });
    expect(feedback.status).toBe(200);
    conforms('/cds-services/{serviceId}/feedback', 'post', feedback);
    conforms('/cds-services/{serviceId}/feedback', 'post', await request(app).post(`${SIGN}/feedback`).send({ feedback: [] }));

    const analytics = await request(app).get('/analytics/rules').set('Authorization', `Bearer ${ADMIN}`);
    expect(analytics.status).toBe(200);
    conforms('/analytics/rules', 'get', analytics);
    conforms('/analytics/rules', 'get', await request(app).get('/analytics/rules'));
    conforms('/rules', 'get', await request(app).get('/rules'));
    conforms('/rules/{ruleId}', 'get', await request(app).get('/rules/liver-disease').set('Accept', 'application/json'));
    conforms('/rules/{ruleId}', 'get', await request(app).get('/rules/no-such-rule').set('Accept', 'application/json'));
    conforms('/healthz', 'get', await request(app).get('/healthz'));
    conforms('/readyz', 'get', await request(app).get('/readyz'));
    await store.close();
    conforms('/readyz', 'get', await request(app).get('/readyz'));
  });
});
