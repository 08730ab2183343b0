import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { gzipSync } from 'node:zlib';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, testApp } from './helpers.js';
import { startService } from './service-process.js';

/**
 * The attack suite: what one caller tried against a running instance, each with its bounded outcome —
 * the status, the service still answering others, and nothing stored that should not be.
 */

const SIGN = '/cds-services/glutamine-order-sign';
const SELECT = '/cds-services/glutamine-order-select';
const ADMIN = 'admin-token-for-tests-0001';

const stores: SqliteAuditStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function appUnderAttack() {
  const store = new SqliteAuditStore(':memory:');
  stores.push(store);
  const { app } = testApp({
    store,
    config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY, adminToken: ADMIN, retentionDays: 365, storeComments: false },
  });
  return { app, store };
}

function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8');
}

async function stillServing(app: ReturnType<typeof appUnderAttack>['app']): Promise<void> {
  await request(app).get('/healthz').expect(200);
  const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(fixtureText('cirrhosis-order-sign')).expect(200);
  expect(res.body.cards).toHaveLength(1);
}

describe('attack: prototype keys and odd types get a 4xx, never a 500, and nothing unvalidated is stored', () => {
  it('context.__proto__.selections = 5 on order-select', async () => {
    const { app } = appUnderAttack();
    const body = JSON.parse(fixtureText('order-select-lactulose-in-same-session')) as { context: Record<string, unknown> };
    delete body.context.selections;
    const text = JSON.stringify(body).replace('"context":{', '"context":{"__proto__":{"selections":5},');
    const res = await request(app).post(SELECT).set('Content-Type', 'application/json').send(text);
    // The prototype key is removed while parsing, so nothing reads selections = 5 through it: the
    // request is answered as one without selections (the service tolerates their absence).
    expect(res.status).toBe(200);
    expect(hookResponseSchema.safeParse(res.body).success).toBe(true);
    await stillServing(app);
  });

  it('a feedback item with __proto__.acceptedSuggestions = 5', async () => {
    const { app, store } = appUnderAttack();
    const text = '{"feedback":[{"card":"c1","outcome":"accepted","__proto__":{"acceptedSuggestions":5},"outcomeTimestamp":"2026-11-26T12:00:00Z"}]}';
    const res = await request(app).post(`${SIGN}/feedback`).set('Content-Type', 'application/json').send(text);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain('feedback.0.acceptedSuggestions');
    expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([]);
    await stillServing(app);
  });

  it('overrideReason.reason.code = {}', async () => {
    const { app } = appUnderAttack();
    const res = await request(app)
      .post(`${SIGN}/feedback`)
      .send({ feedback: [{ card: 'c1', outcome: 'overridden', overrideReason: { reason: { code: {} } }, outcomeTimestamp: '2026-11-26T12:00:00Z' }] });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain('feedback.0.overrideReason.reason.code');
  });

  it('Content-Encoding: gzip with a body that is not gzip; an unknown encoding', async () => {
    const { app } = appUnderAttack();
    const garbage = await request(app).post(SIGN).set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('this is not gzip');
    expect(garbage.status).toBe(400);
    expect(garbage.body.issue[0].diagnostics).toContain('could not be decompressed');
    const unknown = await request(app).post(SIGN).set('Content-Type', 'application/json').set('Content-Encoding', 'x-squash').send('{}');
    expect(unknown.status).toBe(415);
    // A real gzip body is read.
    const zipped = await request(app)
      .post(SIGN)
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'gzip')
      // Sent as the bytes they are (superagent would otherwise JSON-encode a Buffer).
      .serialize((bytes: unknown) => bytes as string)
      .send(gzipSync(fixtureText('cirrhosis-order-sign')));
    expect(zipped.status, JSON.stringify(zipped.body)).toBe(200);
    await stillServing(app);
  });
});

describe('attack: smaller gaps', () => {
  it('CDS_FHIR_SERVER_ALLOWLIST matches the path exactly (case matters), host case does not', async () => {
    const { fhirAccess } = await import('../src/cds/fhir-access.js');
    const policy = { ...NO_OUTBOUND_FHIR_POLICY, allowlist: ['https://EHR.example.org/FHIR'] };
    expect(fhirAccess('https://ehr.example.org/fhir', undefined, policy, () => 0).kind).toBe('refused');
    expect(fhirAccess('https://ehr.example.org/FHIR/', undefined, policy, () => 0).kind).toBe('client');
  });

  it('an unknown serviceId path segment is never logged', async () => {
    const { app, logs } = testApp();
    await request(app).post('/cds-services/%3Cscript%3Ealert(1)%3C%2Fscript%3E').send({}).expect(404);
    const line = logs.find((l) => l.includes('"msg":"request"')) ?? '';
    expect(line).not.toContain('script');
    expect(JSON.parse(line)).not.toHaveProperty('serviceId');
  });
});

describe('attack: bounded work per request', () => {
  const sign = (app: ReturnType<typeof appUnderAttack>['app'], body: unknown) =>
    request(app).post(SIGN).set('Content-Type', 'application/json').send(JSON.stringify(body));
  const base = () =>
    JSON.parse(fixtureText('cirrhosis-order-sign')) as {
      hookInstance: string;
      context: { draftOrders: { entry: unknown[] } };
      prefetch: Record<string, unknown>;
    };

  it('2,000 glutamine drafts: 413 naming CDS_MAX_DRAFT_ORDERS, nothing stored', async () => {
    const { app, store } = appUnderAttack();
    const body = base();
    // 2,000 small glutamine drafts: about 200 KB, well under the body limit (the attack was 319 KB).
    body.context.draftOrders.entry = Array.from({ length: 2000 }, (_, i) => ({
      resource: { resourceType: 'MedicationRequest', id: `g${i}`, status: 'draft', intent: 'order', medicationCodeableConcept: { text: 'L-glutamine 5 g' } },
    }));
    const res = await sign(app, body).expect(413);
    expect(res.body.issue[0].diagnostics).toContain('CDS_MAX_DRAFT_ORDERS');
    expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([]);
    await stillServing(app);
  });

  it('more prefetched resources than CDS_MAX_PREFETCH_RESOURCES: 413', async () => {
    const { app } = appUnderAttack();
    const body = base();
    body.prefetch.conditions = { resourceType: 'Bundle', type: 'searchset', entry: Array.from({ length: 20_001 }, () => ({})) };
    const res = await sign(app, body).expect(413);
    expect(res.body.issue[0].diagnostics).toContain('CDS_MAX_PREFETCH_RESOURCES');
  });

  it('2,000-deep nesting, a 100 KB string, a 2 MB hookInstance: 4xx naming the limit', async () => {
    const { app, store } = appUnderAttack();
    const deep = await request(app)
      .post(SIGN)
      .set('Content-Type', 'application/json')
      .send(`{"hook":"order-sign","x":${'['.repeat(2000)}${']'.repeat(2000)}}`)
      .expect(413);
    expect(deep.body.issue[0].diagnostics).toContain('nested deeper than 64 levels');
    const long = base();
    long.prefetch.note = 'x'.repeat(100_000);
    expect((await sign(app, long).expect(413)).body.issue[0].diagnostics).toContain('longer than 65536 characters');
    const instance = base();
    instance.hookInstance = 'h'.repeat(1000);
    expect((await sign(app, instance).expect(400)).body.issue[0].diagnostics).toContain('at most 128 characters');
    expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([]);
    await stillServing(app);
  });

  it('8 MB of nested brackets (CDS_MAX_BODY raised to 10 MB): 413 before the text is ever parsed', async () => {
    const store = new SqliteAuditStore(':memory:');
    stores.push(store);
    const { app } = testApp({ store, config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY } });
    const depth = 4 * 1024 * 1024;
    const text = `{"hook":"order-sign","context":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    // JSON.parse would build a 4-million-deep array (200 MB and more) before any later check could refuse it.
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const res = await request(app).post(SIGN).set('Content-Type', 'application/json').send(text).expect(413);
      expect(res.body.issue[0].diagnostics).toContain('nested deeper than 64 levels');
      expect(parse.mock.calls.some(([input]) => typeof input === 'string' && input.length >= text.length)).toBe(false);
    } finally {
      parse.mockRestore();
    }
    await request(app).get('/healthz').expect(200);
  });
});

describe('attack: more hook calls at once than CDS_MAX_CONCURRENT_HOOKS', () => {
  it('admits the limit, queues a few in order, answers the rest 503 with Retry-After', async () => {
    const { hookGate } = await import('../src/http/hook-gate.js');
    const { EventEmitter } = await import('node:events');
    const gate = hookGate(1, 1);
    const calls: string[] = [];
    const response = () => {
      const headers: Record<string, string> = {};
      const res = Object.assign(new EventEmitter(), {
        closed: false,
        headers,
        setHeader(name: string, value: string) {
          headers[name] = value;
        },
      });
      res.once('close', () => (res.closed = true));
      return res;
    };
    const [first, second, third] = [response(), response(), response()];
    const run = (res: ReturnType<typeof response>, name: string) =>
      gate({} as never, res as never, ((error?: { code?: string }) => calls.push(error ? `${name}:${error.code ?? ''}` : `${name}:admitted`)) as never);
    run(first, 'first');
    run(second, 'second');
    run(third, 'third');
    expect(calls).toEqual(['first:admitted', 'third:ERR_BUSY']);
    expect(third.headers['Retry-After']).toBe('1');
    first.emit('close');
    expect(calls).toEqual(['first:admitted', 'third:ERR_BUSY', 'second:admitted']);
    // A queued caller that hangs up leaves the queue; its place and the slot are not lost.
    const [fourth, fifth, sixth] = [response(), response(), response()];
    run(fourth, 'fourth');
    fourth.emit('close');
    second.emit('close');
    run(fifth, 'fifth');
    run(sixth, 'sixth');
    expect(calls.slice(3)).toEqual(['fifth:admitted']);
    fifth.emit('close');
    expect(calls.slice(3)).toEqual(['fifth:admitted', 'sixth:admitted']);
  });
});

describe('attack: feedback bound to its client and service', () => {
  const NOW_ = new Date('2026-11-26T12:00:00Z');
  async function storeWithCardOfA() {
    const store = new SqliteAuditStore(':memory:');
    stores.push(store);
    await store.recordCards([
      {
        uuid: 'card-a',
        ruleId: 'liver-disease',
        indicator: 'critical',
        findings: [{ ruleId: 'liver-disease', indicator: 'critical' }],
        serviceId: 'glutamine-order-sign',
        hookInstance: 'h',
        issuedAt: NOW_.toISOString(),
        clientIss: 'https://ehr-a.example.org',
        clientTenant: 'a',
      },
    ]);
    return store;
  }
  const item = (outcome: 'accepted' | 'overridden', outcomeTimestamp = '2026-11-26T11:59:00Z') =>
    outcome === 'accepted' ? { card: 'card-a', outcome, acceptedSuggestions: [{ id: 's1' }], outcomeTimestamp } : { card: 'card-a', outcome, outcomeTimestamp };

  it('another client, another tenant, or another service URL cannot give feedback on a card (counted, not stored)', async () => {
    const { acceptFeedback } = await import('../src/cds/feedback.js');
    const store = await storeWithCardOfA();
    const deps = { store, storeComments: false, now: () => NOW_ };
    const body = { feedback: [item('overridden')] };
    expect((await acceptFeedback('glutamine-order-sign', body, { iss: 'https://ehr-c.example.org', tenant: 'a' }, deps)).stored).toEqual({
      stored: 0,
      duplicates: 0,
      unknownCards: 1,
    });
    expect((await acceptFeedback('glutamine-order-sign', body, { iss: 'https://ehr-a.example.org', tenant: 'b' }, deps)).stored.unknownCards).toBe(1);
    expect((await acceptFeedback('glutamine-order-select', body, { iss: 'https://ehr-a.example.org', tenant: 'a' }, deps)).stored.unknownCards).toBe(1);
    expect((await acceptFeedback('glutamine-order-sign', body, undefined, deps)).stored.unknownCards).toBe(1);
    expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([{ ruleId: 'liver-disease', issued: 1, accepted: 0, overridden: 0, overrideReasons: [] }]);
    // The client it was issued to can.
    expect((await acceptFeedback('glutamine-order-sign', body, { iss: 'https://ehr-a.example.org', tenant: 'a' }, deps)).stored.stored).toBe(1);
  });

  it('an outcomeTimestamp in the future is refused; the latest answer is the one received last', async () => {
    const { acceptFeedback } = await import('../src/cds/feedback.js');
    const store = await storeWithCardOfA();
    const a = { iss: 'https://ehr-a.example.org', tenant: 'a' };
    await expect(
      acceptFeedback('glutamine-order-sign', { feedback: [item('overridden', '9999-12-31T23:59:59Z')] }, a, { store, storeComments: false, now: () => NOW_ }),
    ).rejects.toThrow('feedback.0.outcomeTimestamp must not be in the future');
    // An override stamped later but received first, then an acceptance: the acceptance counts.
    await acceptFeedback('glutamine-order-sign', { feedback: [item('overridden', '2026-11-26T12:00:30Z')] }, a, {
      store,
      storeComments: false,
      now: () => NOW_,
    });
    await acceptFeedback('glutamine-order-sign', { feedback: [item('accepted', '2026-11-26T11:00:00Z')] }, a, {
      store,
      storeComments: false,
      now: () => new Date('2026-11-26T12:05:00Z'),
    });
    expect((await store.ruleCounts('2000-01-01T00:00:00Z'))[0]).toMatchObject({ accepted: 1, overridden: 0 });
  });
});

describe('attack: a token replayed to a second replica', () => {
  it('two processes on one store: the same token sent to both at once is accepted exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glutamine-replicas-'));
    const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const iss = 'https://ehr.example.org';
    writeFileSync(
      join(dir, 'clients.json'),
      JSON.stringify({ clients: [{ iss, jwks: { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k1' }] } }] }),
    );
    const env = {
      PORT: '0',
      CDS_DB_PATH: join(dir, 'audit.sqlite'),
      CDS_TRUSTED_CLIENTS: join(dir, 'clients.json'),
      CDS_PUBLIC_URL: 'https://cds.example.org',
      LOG_LEVEL: 'info',
    };
    const replicas = [startService(env), startService(env)];
    try {
      const ports = await Promise.all(replicas.map(async (r) => (await r.listening()).port));
      const now = Math.floor(Date.now() / 1000);
      const token = jwt.sign({ iss, aud: `https://cds.example.org${SIGN}`, iat: now, exp: now + 300, jti: randomUUID() }, key.privateKey, {
        algorithm: 'ES384',
        keyid: 'k1',
      });
      const statuses = await Promise.all(
        ports.map(async (port) => {
          const res = await fetch(`http://127.0.0.1:${port}${SIGN}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
            body: fixtureText('cirrhosis-order-sign'),
          });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses.sort()).toEqual([200, 401]);
    } finally {
      const running = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
      for (const r of running) r.child.kill('SIGTERM');
      await Promise.all(running.map((r) => once(r.child, 'exit')));
    }
  }, 60_000);

  it('replicas starting together on a new database both come up (migrations take turns)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glutamine-start-'));
    const env = { PORT: '0', CDS_DB_PATH: join(dir, 'audit.sqlite') };
    const replicas = Array.from({ length: 4 }, () => startService(env));
    try {
      const started = await Promise.allSettled(replicas.map((r) => r.listening()));
      expect(started.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    } finally {
      const running = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
      for (const r of running) r.child.kill('SIGTERM');
      await Promise.all(running.map((r) => once(r.child, 'exit')));
    }
  }, 60_000);
});

describe('attack: a flood of feedback from one client', () => {
  it('beyond CDS_FEEDBACK_PER_MINUTE: 429 with Retry-After, nothing stored, hook calls still answered', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'glutamine-flood-')), 'audit.sqlite');
    const store = new SqliteAuditStore(path);
    stores.push(store);
    const { app } = testApp({ store, config: { publicUrl: PUBLIC_URL, maxBodyBytes: 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY, feedbackPerMinute: 3 } });
    const issued = await request(app).post(SIGN).set('Content-Type', 'application/json').send(fixtureText('cirrhosis-order-sign')).expect(200);
    const card = (issued.body as { cards: Array<{ uuid: string }> }).cards[0]?.uuid ?? '';
    const post = (minute: number) =>
      request(app)
        .post(`${SIGN}/feedback`)
        .send({ feedback: [{ card, outcome: 'overridden', outcomeTimestamp: `2026-11-26T11:${String(minute).padStart(2, '0')}:00Z` }] });
    for (const minute of [1, 2, 3]) await post(minute).expect(200);
    const limited = await post(4).expect(429);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(limited.body.issue[0].diagnostics).toContain('CDS_FEEDBACK_PER_MINUTE');
    // Three stored, the fourth not.
    const db = new DatabaseSync(path, { readOnly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM feedback').get()).toEqual({ n: 3 });
    db.close();
    await stillServing(app);
  });
});

describe('attack: oversized feedback fields', () => {
  it.each([
    [{ card: 'c'.repeat(129) }, 'feedback.0.card'],
    [{ overrideReason: { reason: { code: 'x'.repeat(257) } } }, 'feedback.0.overrideReason.reason.code'],
    [{ overrideReason: { reason: { code: 'x', display: 'd'.repeat(1025) } } }, 'feedback.0.overrideReason.reason.display'],
    [{ overrideReason: { userComment: 'c'.repeat(4097) } }, 'feedback.0.overrideReason.userComment'],
  ])('%# is a 400 naming the field, nothing stored', async (extra, field) => {
    const { app, store } = appUnderAttack();
    const item = { card: 'card-1', outcome: 'overridden', outcomeTimestamp: '2026-11-26T11:00:00Z', ...extra };
    const res = await request(app)
      .post(`${SIGN}/feedback`)
      .send({ feedback: [item] })
      .expect(400);
    expect(res.body.issue[0].diagnostics).toContain(field);
    expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([]);
  });
});
