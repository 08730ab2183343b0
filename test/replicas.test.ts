import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES_DIR } from './helpers.js';
import { sharedPostgres } from './shared-postgres.js';
import { startService } from './service-process.js';
import type { ServiceProcess } from './service-process.js';

/**
 * Two replicas of the built service (`node dist/main.js`) on one real PostgreSQL (issue 15), and
 * what happens when that database goes away while they run.
 */

const SIGN = '/cds-services/glutamine-order-sign';
const PUBLIC_URL = 'https://cds.example.org';
const ADMIN = 'admin-token-for-replicas-01';
const ISS = 'https://ehr.example.org';
const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });

const postgres = sharedPostgres();
let clientsFile: string;
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'glutamine-replicas-'));
  clientsFile = join(dir, 'clients.json');
  writeFileSync(clientsFile, JSON.stringify({ clients: [{ iss: ISS, jwks: { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k1' }] } }] }));
});

const running: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(
    running.splice(0).map(async (service) => {
      if (service.child.exitCode !== null || service.child.signalCode !== null) return;
      service.child.kill('SIGKILL');
      await once(service.child, 'exit');
    }),
  );
});

async function replica(databaseUrl: string): Promise<{ base: string; service: ServiceProcess }> {
  const service = startService({
    PORT: '0',
    CDS_DATABASE_URL: databaseUrl,
    CDS_TRUSTED_CLIENTS: clientsFile,
    CDS_PUBLIC_URL: PUBLIC_URL,
    CDS_ADMIN_TOKEN: ADMIN,
  });
  running.push(service);
  const { port } = await service.listening();
  return { base: `http://127.0.0.1:${port}`, service };
}

function token(path: string): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ iss: ISS, aud: `${PUBLIC_URL}${path}`, iat: now, exp: now + 300, jti: randomUUID() }, key.privateKey, { algorithm: 'ES384', keyid: 'k1' });
}

const fixture = readFileSync(join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'), 'utf8');

async function sign(base: string, bearer = token(SIGN)): Promise<{ status: number; body: { cards?: Array<{ uuid: string }> } }> {
  const res = await fetch(`${base}${SIGN}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
    body: fixture,
  });
  return { status: res.status, body: (await res.json()) as { cards?: Array<{ uuid: string }> } };
}

async function feedback(base: string, card: string): Promise<{ status: number; body: unknown }> {
  const path = `${SIGN}/feedback`;
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token(path)}` },
    body: JSON.stringify({ feedback: [{ card, outcome: 'overridden', outcomeTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] }),
  });
  return { status: res.status, body: await res.json() };
}

async function analytics(base: string): Promise<unknown> {
  const res = await fetch(`${base}/analytics/rules`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  expect(res.status).toBe(200);
  return res.json();
}

/** Polls until `check` passes (the other replica writes its audit just after answering). */
async function eventually(check: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await check();
      return;
    } catch (error) {
      if (attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('two replicas on one PostgreSQL', () => {
  it('a token accepted by A and replayed to B is refused', async () => {
    const url = await postgres().database();
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    const bearer = token(SIGN);
    expect((await sign(a.base, bearer)).status).toBe(200);
    expect((await sign(b.base, bearer)).status).toBe(401);
    // The log is flushed within a second.
    await eventually(async () => {
      expect(b.service.output().stdout).toContain('jti replayed');
      await Promise.resolve();
    });
  }, 30_000);

  it('a card issued by A takes feedback posted to B, and analytics read from either agree', async () => {
    const url = await postgres().database();
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    const issued = await sign(a.base);
    const cardId = issued.body.cards?.[0]?.uuid ?? '';
    await eventually(async () => {
      expect((await feedback(b.base, cardId)).body).toEqual({ stored: 1, duplicates: 0, unknownCards: 0 });
    });
    const fromA = await analytics(a.base);
    expect(await analytics(b.base)).toEqual(fromA);
    expect((fromA as { rules: Array<{ ruleId: string; issued: number; overridden: number }> }).rules.find((r) => r.ruleId === 'liver-disease')).toMatchObject({
      issued: 1,
      overridden: 1,
    });
  }, 30_000);

  it('one replica killed mid-load: the other keeps answering, and nothing acknowledged is lost', async () => {
    const url = await postgres().database();
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    // Load on both; feedback acknowledged by A is remembered per card.
    const acknowledged: string[] = [];
    const load = async (base: string, rounds: number) => {
      for (let i = 0; i < rounds; i++) {
        const issued = await sign(base).catch(() => undefined);
        const cardId = issued?.body.cards?.[0]?.uuid;
        if (!cardId) continue;
        const answered = await feedback(base, cardId).catch(() => undefined);
        if (answered?.status === 200 && (answered.body as { stored: number }).stored === 1) acknowledged.push(cardId);
      }
    };
    const loadA = load(a.base, 40);
    await new Promise((r) => setTimeout(r, 300));
    a.service.child.kill('SIGKILL');
    await loadA;
    await load(b.base, 10);
    expect((await sign(b.base)).status).toBe(200);
    // Every feedback either replica acknowledged is in the database.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const stored = new Set((await client.query<{ card: string }>('SELECT card_uuid AS card FROM feedback')).rows.map((r) => r.card));
      expect(acknowledged.length).toBeGreaterThan(10);
      expect(acknowledged.filter((card) => !stored.has(card))).toEqual([]);
    } finally {
      await client.end();
    }
  }, 60_000);
});

describe('the database going away mid-run', () => {
  it('with JWTs: a jti that cannot be checked is refused (hook calls and feedback), /readyz says so, all resumes when it returns', async () => {
    const url = await postgres().database();
    const { base, service } = await replica(url);
    const issuedBefore = await sign(base);
    expect(issuedBefore.status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    await postgres().stop();
    try {
      // A token's jti cannot be checked: fail closed.
      const refused = await sign(base);
      expect(refused.status).toBe(401);
      await eventually(async () => {
        expect(service.output().stdout).toContain('replay store unreachable');
        await Promise.resolve();
      });
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      // Feedback is authenticated too, so it is refused the same way: never a 200 for what was not stored.
      expect((await feedback(base, issuedBefore.body.cards?.[0]?.uuid ?? '')).status).toBe(401);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      await postgres().start();
    }
    await eventually(async () => {
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    });
    const issuedAfter = await sign(base);
    expect(issuedAfter.status).toBe(200);
    await eventually(async () => {
      expect((await feedback(base, issuedAfter.body.cards?.[0]?.uuid ?? '')).body).toEqual({ stored: 1, duplicates: 0, unknownCards: 0 });
    });
  }, 60_000);

  it('hook calls still answer while it is away and their audit waits, feedback is 503, and the audit is written when it returns', async () => {
    // The JWT check off (a gateway authenticates): nothing else stands between the call and the store.
    const url = await postgres().database();
    const service = startService({ PORT: '0', CDS_DATABASE_URL: url, CDS_ADMIN_TOKEN: ADMIN });
    running.push(service);
    const { port } = await service.listening();
    const base = `http://127.0.0.1:${port}`;
    const post = async () => (await fetch(`${base}${SIGN}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: fixture })).status;

    const issued = (await (await fetch(`${base}${SIGN}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: fixture })).json()) as {
      cards: Array<{ uuid: string }>;
    };
    // That card's audit is written (just after the answer) before the database goes.
    await eventually(async () => {
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^glutamine_cds_audit_queue_depth 0$/m);
    });
    await postgres().stop();
    try {
      expect(await Promise.all([post(), post(), post()])).toEqual([200, 200, 200]);
      // Feedback cannot be stored: 503 with Retry-After, never a 200.
      const answer = await fetch(`${base}${SIGN}/feedback`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          feedback: [{ card: issued.cards[0]?.uuid, outcome: 'overridden', outcomeTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
        }),
      });
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('5');
      expect(await answer.json()).toMatchObject({ issue: [{ details: { coding: [{ code: 'ERR_STORE_UNAVAILABLE' }] } }] });
      await eventually(async () => {
        const metrics = await (await fetch(`${base}/metrics`)).text();
        expect(metrics).toMatch(/^glutamine_cds_audit_queue_depth 3$/m);
      });
    } finally {
      await postgres().start();
    }
    await eventually(async () => {
      const counts = (await analytics(base)) as { rules: Array<{ ruleId: string; issued: number }> };
      expect(counts.rules.find((r) => r.ruleId === 'liver-disease')?.issued).toBe(4);
    });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^glutamine_cds_audit_queue_depth 0$/m);
  }, 60_000);

  it('an unreachable database at start-up: retried, then a clear exit', async () => {
    const service = startService({ PORT: '0', CDS_DATABASE_URL: `postgres://postgres:x@127.0.0.1:${postgres().port + 1}/none` });
    const [code] = (await once(service.child, 'exit')) as [number];
    expect(code).toBe(1);
    const { stdout, stderr } = service.output();
    expect(stdout).toContain('audit database not reachable; retrying');
    expect(stderr).toMatch(/Cannot open the audit database 127\.0\.0\.1:\d+\/none: PostgreSQL at .* did not answer after 6 attempts/);
    expect(stderr + stdout).not.toContain('postgres:x@');
  }, 30_000);
});
