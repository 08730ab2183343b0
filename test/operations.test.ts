import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalFhirServer } from '../scripts/local-fhir-server.js';
import type { LocalFhirServer } from '../scripts/local-fhir-server.js';
import { parseTrustedClients } from '../src/auth/trusted-clients.js';
import { clientVerifier } from '../src/auth/verify-client-jwt.js';
import { ServiceMetrics } from '../src/http/metrics.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import { FIXTURES_DIR, PUBLIC_URL, TEST_FHIR_POLICY, testApp, testCatalogue } from './helpers.js';

/** What an operator relies on: request ids, trace context, metrics by convention, readiness, honest discovery. */

const SIGN = '/cds-services/glutamine-order-sign';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : undefined;
}

function withMetrics(extra: Parameters<typeof testApp>[0] = {}) {
  const metrics = new ServiceMetrics(new Map(testCatalogue().services.map((s) => [s.id, s.hook])), { version: '9.8.7', rulesVersion: testCatalogue().version });
  return { ...testApp({ metrics, ...extra }), metrics };
}

const servers: LocalFhirServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/**
 * Fills the SQLite database as a full disk would: it may not grow past its current pages, and the
 * free space in them is taken, so every write that needs room fails with SQLITE_FULL.
 */
function fillDisk(store: SqliteAuditStore): void {
  const db = (store as unknown as { db: DatabaseSync }).db;
  const { page_count: pages } = db.prepare('PRAGMA page_count').get() as { page_count: number };
  db.exec(`PRAGMA max_page_count = ${String(pages)}`);
  const filler = db.prepare('INSERT INTO settings (name, value) VALUES (?, hex(randomblob(200)))');
  for (let i = 0; ; i++) {
    try {
      filler.run(`filler-${String(i)}`);
    } catch {
      return;
    }
  }
}

describe('request ids', () => {
  it('keeps a caller X-Request-Id that is an id, echoes it and logs it; replaces one that is not', async () => {
    const { app, logs } = testApp();
    const kept = await request(app).get('/cds-services').set('X-Request-Id', 'gw-7f3a:2026.12.02@edge-1').expect(200);
    expect(kept.headers['x-request-id']).toBe('gw-7f3a:2026.12.02@edge-1');
    for (const bad of ['two words', 'x'.repeat(129), '<script>', 'a;b']) {
      const replaced = await request(app).get('/cds-services').set('X-Request-Id', bad).expect(200);
      expect(replaced.headers['x-request-id']).not.toBe(bad);
      expect(replaced.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:@-]{1,128}$/);
    }
    const lines = logs.map((l) => JSON.parse(l) as { requestId?: string; msg: string }).filter((l) => l.msg === 'request');
    expect(lines[0]?.requestId).toBe('gw-7f3a:2026.12.02@edge-1');
    expect(logs.join('\n')).not.toContain('two words');
  });
});

describe('W3C trace context', () => {
  it('accepts a traceparent, logs its trace id and sends it on with every FHIR request; a malformed one is dropped', async () => {
    const server = await startLocalFhirServer({ resources: [] });
    servers.push(server);
    const seen = (): Array<string | undefined> => server.requests.map((r) => r.traceparent);
    const { app, logs } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: TEST_FHIR_POLICY } });
    const body: Record<string, unknown> = { ...fixture('cirrhosis-order-sign'), fhirServer: server.baseUrl };
    delete body.prefetch;
    await request(app).post(SIGN).set('traceparent', TRACEPARENT).set('tracestate', 'ehr=abc').send(body).expect(200);
    expect(seen().length).toBeGreaterThan(3);
    expect(new Set(seen())).toEqual(new Set([TRACEPARENT]));
    const line = logs.map((l) => JSON.parse(l) as { msg: string; traceId?: string }).find((l) => l.msg === 'request');
    expect(line?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');

    server.requests.length = 0;
    for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'not a trace']) {
      await request(app).post(SIGN).set('traceparent', bad).send(body).expect(200);
    }
    expect(seen().length).toBeGreaterThan(3);
    expect(seen().every((h) => h === undefined)).toBe(true);
  });
});

describe('metrics an operator expects', () => {
  it('build_info, whole-call latency by service and status, 401 and 412 under their own service, refused FHIR servers', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const clients = parseTrustedClients(
      { clients: [{ iss: 'https://ehr.example.org', jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }] } }] },
      'test',
    );
    const secured = withMetrics({ verifyClient: clientVerifier(clients) });
    await request(secured.app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(401);
    const open = withMetrics();
    const noData: Record<string, unknown> = { ...fixture('cirrhosis-order-sign') };
    delete noData.prefetch;
    await request(open.app).post(SIGN).send(noData).expect(412);
    await request(open.app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(200);
    // An http FHIR server where only https is allowed: refused, nothing fetched (and so no data: 412).
    await request(open.app)
      .post(SIGN)
      .send({ ...noData, fhirServer: 'http://ehr.example.org/fhir' })
      .expect(412);

    const securedText = (await request(secured.app).get('/metrics').expect(200)).text;
    expect(sample(securedText, 'glutamine_cds_hook_requests_total{service="glutamine-order-sign",hook="order-sign",status="401"}')).toBe(1);
    expect(sample(securedText, 'glutamine_cds_hook_request_duration_seconds_count{service="glutamine-order-sign",status="401"}')).toBe(1);
    const text = (await request(open.app).get('/metrics').expect(200)).text;
    expect(sample(text, 'glutamine_cds_hook_requests_total{service="glutamine-order-sign",hook="order-sign",status="412"}')).toBe(2);
    expect(sample(text, 'glutamine_cds_hook_request_duration_seconds_count{service="glutamine-order-sign",status="200"}')).toBe(1);
    expect(sample(text, 'glutamine_cds_hook_request_duration_seconds_count{service="glutamine-order-sign",status="412"}')).toBe(2);
    // The fixtures' fhirServer is not on the tests' allowlist either: refused in all three calls of this app.
    expect(sample(text, 'glutamine_cds_fhir_refused_total')).toBe(3);
    const version = testCatalogue().version;
    expect(version).toMatch(/^[0-9a-f]{12}$/);
    expect(sample(text, `glutamine_cds_build_info{version="9.8.7",rules_version="${version}"}`)).toBe(1);
  });
});

describe('a full disk', () => {
  it('feedback answers 503 with Retry-After, the log names the request and the cause, the audit failure is counted, /readyz is 503', async () => {
    const store = new SqliteAuditStore(join(mkdtempSync(join(tmpdir(), 'glutamine-full-')), 'audit.sqlite'));
    // Comments kept, so that feedback needs room of its own.
    const { app, logs } = withMetrics({
      store,
      config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: TEST_FHIR_POLICY, storeComments: true },
    });
    const issued = await request(app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(200);
    const card = (issued.body as { cards: Array<{ uuid: string }> }).cards[0]?.uuid ?? '';
    await request(app).get('/readyz').expect(200); // the card is written by now
    fillDisk(store);

    // Cards still reach the clinician; their audit rows soon find no room.
    for (let i = 0; i < 30; i++)
      await request(app)
        .post(SIGN)
        .set('X-Request-Id', `call-${String(i)}`)
        .send(fixture('cirrhosis-order-sign'))
        .expect(200);
    const items = Array.from({ length: 20 }, (_, i) => ({
      card,
      outcome: 'overridden',
      outcomeTimestamp: `2026-11-26T12:00:${String(i).padStart(2, '0')}Z`,
      overrideReason: { userComment: 'benefit outweighs the risk here, monitored weekly '.repeat(40) },
    }));
    const feedback = await request(app).post(`${SIGN}/feedback`).set('X-Request-Id', 'feedback-1').send({ feedback: items });
    expect(feedback.status).toBe(503);
    expect(feedback.headers['retry-after']).toBe('5');
    expect(feedback.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
    const lines = logs.map((l) => JSON.parse(l) as { msg: string; requestId?: string; requestIds?: string[]; err?: { message: string } });
    const cardFailure = lines.find((l) => l.msg === 'card audit write failed; cards stay queued');
    expect(cardFailure?.requestIds?.length).toBeGreaterThan(0);
    expect(cardFailure?.requestIds?.length).toBeLessThanOrEqual(10);
    for (const id of cardFailure?.requestIds ?? []) expect(id).toMatch(/^call-\d+$/);
    expect(cardFailure?.err?.message).toContain('database or disk is full');
    const feedbackFailure = lines.find((l) => l.requestId === 'feedback-1' && l.msg.startsWith('The feedback could not be stored'));
    expect(feedbackFailure?.err?.message).toContain('database or disk is full');

    const text = (await request(app).get('/metrics').expect(200)).text;
    expect(sample(text, 'glutamine_cds_audit_failures_total{kind="card_write"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'glutamine_cds_audit_failures_total{kind="feedback_write"}')).toBe(1);
    const ready = await request(app).get('/readyz').expect(503);
    expect(ready.body).toMatchObject({ status: 'audit database not writable' });
    await store.close();
  });

  it('/readyz is 200 when the store takes a write, and 503 draining while the process shuts down', async () => {
    const lifecycle = { draining: false };
    const { app } = testApp({ lifecycle });
    expect((await request(app).get('/readyz').expect(200)).body).toMatchObject({ status: 'ready' });
    lifecycle.draining = true;
    const draining = await request(app).get('/readyz').expect(503);
    expect(draining.body).toMatchObject({ status: 'draining' });
    // Still serving meanwhile, asking clients to reconnect elsewhere.
    const discovery = await request(app).get('/cds-services').expect(200);
    expect(discovery.headers.connection).toBe('close');
  });
});

describe("discovery's usageRequirements", () => {
  const requirements = async (extra: Parameters<typeof testApp>[0]): Promise<string> => {
    const res = await request(testApp(extra).app).get('/cds-services').expect(200);
    const services = (res.body as { services: Array<{ usageRequirements: string }> }).services;
    expect(new Set(services.map((s) => s.usageRequirements)).size).toBe(1);
    return services[0]?.usageRequirements ?? '';
  };

  it('says what the running configuration does: JWT or not, https or http', async () => {
    const clients = parseTrustedClients({ clients: [{ iss: 'https://ehr.example.org', jwksUrls: ['https://ehr.example.org/jwks'] }] }, 'test');
    const jwt = await requirements({
      verifyClient: clientVerifier(clients),
      config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024, fhir: { ...TEST_FHIR_POLICY, allowHttp: false } },
    });
    expect(jwt).toContain('Calls are authenticated with the CDS client JWT of registered EHRs.');
    expect(jwt).toContain('FHIR servers are called over https only.');
    const gateway = await requirements({
      config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024, fhir: { ...TEST_FHIR_POLICY, allowHttp: false }, allowUnauthenticated: true },
    });
    expect(gateway).toContain('a gateway in front of it authenticates EHRs');
    expect(gateway).not.toContain('authenticated with the CDS client JWT');
    const local = await requirements({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024, fhir: TEST_FHIR_POLICY } });
    expect(local).toContain('Calls are not authenticated');
    expect(local).toContain('FHIR servers are called over https or http.');
    const listed = await requirements({});
    expect(listed).toContain('and only those this deployment lists');
  });
});
