import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { startLocalFhirServer } from '../scripts/local-fhir-server.js';
import { parseTrustedClients } from '../src/auth/trusted-clients.js';
import { clientVerifier } from '../src/auth/verify-client-jwt.js';
import { ServiceMetrics } from '../src/http/metrics.js';
import { FIXTURES_DIR, PUBLIC_URL, TEST_FHIR_POLICY, testApp, testCatalogue } from './helpers.js';

/** GET /metrics (Prometheus text) and the per-request stage timings: counts, never patient data. */

const SIGN = '/cds-services/glutamine-order-sign';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

function appWithMetrics(extra: Parameters<typeof testApp>[0] = {}) {
  const metrics = new ServiceMetrics(new Map(testCatalogue().services.map((s) => [s.id, s.hook])));
  return { ...testApp({ metrics, ...extra }), metrics };
}

/** The value of one sample line, e.g. `glutamine_cds_cards_total{rule="liver-disease",indicator="critical"}`. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : undefined;
}

describe('GET /metrics', () => {
  it('counts hook calls by service, hook and status, cards by rule and indicator, stage latencies', async () => {
    const { app } = appWithMetrics();
    await request(app).post(SIGN).send(fixture('cirrhosis-high-ammonia-lactulose-ckd4')).expect(200);
    await request(app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(200);
    await request(app).post(SIGN).send({ hook: 'order-sign' }).expect(400);
    await request(app).post('/cds-services/made-up-service').send(fixture('cirrhosis-order-sign')).expect(404);
    await request(app).post('/cds-services/glutamine-medication-verify').send(fixture('medication-verify-cirrhosis')).expect(200);
    const res = await request(app).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.text;
    expect(sample(text, 'glutamine_cds_hook_requests_total{service="glutamine-order-sign",hook="order-sign",status="200"}')).toBe(2);
    // A call refused before its hook could be read is still counted under the service's hook.
    expect(sample(text, 'glutamine_cds_hook_requests_total{service="glutamine-order-sign",hook="order-sign",status="400"}')).toBe(1);
    expect(sample(text, 'glutamine_cds_hook_requests_total{service="unknown",hook="unknown",status="404"}')).toBe(1);
    // Every service of cards/services.json is a label, the pharmacist's hook included.
    expect(sample(text, 'glutamine_cds_hook_requests_total{service="glutamine-medication-verify",hook="medication-verify",status="200"}')).toBe(1);
    expect(sample(text, 'glutamine_cds_cards_total{rule="liver-disease",indicator="critical"}')).toBe(3); // two at order-sign, one at medication-verify
    expect(sample(text, 'glutamine_cds_cards_total{rule="lactulose",indicator="warning"}')).toBe(1);
    for (const stage of ['parse', 'data', 'rules', 'render']) expect(sample(text, `glutamine_cds_hook_stage_seconds_count{stage="${stage}"}`)).toBe(3);
    // Node's default metrics under their standard names, which the usual dashboards look for.
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(text).toMatch(new RegExp(`^${name} `, 'm'));
    }
    expect(text).not.toContain('glutamine_cds_process_');
    expect(text).not.toContain('glutamine_cds_nodejs_');
    for (const secret of ['pat-1001', 'Cirrhosis', '19943007', 'made-up-service']) expect(text).not.toContain(secret);
  });

  it('counts FHIR fetches by outcome, feedback by outcome and JWT rejections by reason', async () => {
    const server = await startLocalFhirServer({
      resources: [],
      intercept: (r) => (r.path.startsWith('MedicationStatement') ? { status: 503, body: {} } : undefined),
    });
    try {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const clients = parseTrustedClients(
        { clients: [{ iss: 'https://ehr.example.org', jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }] } }] },
        'test',
      );
      const { app } = appWithMetrics({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024 * 1024, fhir: TEST_FHIR_POLICY } });
      const body: Record<string, unknown> = { ...fixture('cirrhosis-order-sign'), fhirServer: server.baseUrl };
      delete body.prefetch;
      await request(app).post(SIGN).send(body).expect(200);
      await request(app)
        .post(`${SIGN}/feedback`)
        .send({
          feedback: [
            { card: 'c1', outcome: 'overridden', outcomeTimestamp: '2026-11-26T12:00:00Z' },
            { card: 'c2', outcome: 'accepted', acceptedSuggestions: [{ id: 's' }], outcomeTimestamp: '2026-11-26T12:00:00Z' },
          ],
        })
        .expect(200);
      const fetched = await request(app).get('/metrics').expect(200);
      // Six searches answered; the Patient read (404: not on this server) and the failing statements search are HTTP errors.
      expect(sample(fetched.text, 'glutamine_cds_fhir_fetch_seconds_count{outcome="ok"}')).toBe(6);
      expect(sample(fetched.text, 'glutamine_cds_fhir_fetch_seconds_count{outcome="http_error"}')).toBe(2);
      expect(sample(fetched.text, 'glutamine_cds_feedback_items_total{outcome="overridden"}')).toBe(1);
      expect(sample(fetched.text, 'glutamine_cds_feedback_items_total{outcome="accepted"}')).toBe(1);

      const secured = appWithMetrics({ verifyClient: clientVerifier(clients) });
      await request(secured.app).post(SIGN).send(fixture('cirrhosis-order-sign')).expect(401);
      const forged = jwt.sign({ iss: 'https://unknown.example.org', aud: 'x', jti: randomUUID() }, 'secret', { algorithm: 'HS256' });
      await request(secured.app).post(SIGN).set('Authorization', `Bearer ${forged}`).send(fixture('cirrhosis-order-sign')).expect(401);
      const rejected = await request(secured.app).get('/metrics').expect(200);
      expect(sample(rejected.text, 'glutamine_cds_jwt_rejections_total{reason="missing_token"}')).toBe(1);
      expect(sample(rejected.text, 'glutamine_cds_jwt_rejections_total{reason="unknown_iss"}')).toBe(1);
      // Reasons not seen yet are there at zero: the label set is the JwtRejection union.
      expect(sample(rejected.text, 'glutamine_cds_jwt_rejections_total{reason="replay"}')).toBe(0);
      expect(rejected.text).not.toContain(forged);
    } finally {
      await server.close();
    }
  });

  it('is absent when the app has no metrics', async () => {
    const { app } = testApp();
    await request(app).get('/metrics').expect(404);
  });
});

describe('per-request log line', () => {
  it('carries stage timings and the hookInstance, no patient data', async () => {
    const { app, logs } = appWithMetrics();
    const body = fixture('cirrhosis-order-sign');
    await request(app).post(SIGN).send(body).expect(200);
    const line = JSON.parse(logs[0] ?? '{}') as { hookInstance?: string; stagesMs?: Record<string, number> };
    expect(line.hookInstance).toBe(body.hookInstance);
    expect(Object.keys(line.stagesMs ?? {})).toEqual(['parse', 'data', 'rules', 'render']);
    for (const ms of Object.values(line.stagesMs ?? {})) expect(ms).toBeGreaterThanOrEqual(0);
    expect(logs[0]).not.toContain('pat-1001');
  });
});
