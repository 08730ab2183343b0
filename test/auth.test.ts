import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustedClients } from '../src/auth/trusted-clients.js';
import { clientVerifier } from '../src/auth/verify-client-jwt.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import { FIXTURES_DIR, PUBLIC_URL, testApp } from './helpers.js';

/**
 * CDS Hooks 2.0 §Trusting CDS Clients with keys made here: ES384 (inline JWKS) and RS384 (served by
 * a local JWKS endpoint, reached through `jku`). Every rejection path is its own test.
 */

const SIGN_PATH = '/cds-services/glutamine-order-sign';
const AUD = `${PUBLIC_URL}${SIGN_PATH}`;
const ISS_A = 'https://ehr-a.example.org';
const ISS_B = 'https://ehr-b.example.org';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid });

interface JwksEndpoint {
  url: string;
  hits: number;
  /** What the endpoint serves now (a test may rotate a key out). */
  keys: unknown[];
  server: Server;
}

async function jwksEndpoint(keys: unknown[]): Promise<JwksEndpoint> {
  const endpoint: JwksEndpoint = { url: '', hits: 0, keys, server: createServer() };
  endpoint.server.on('request', (_req, res) => {
    endpoint.hits += 1;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: endpoint.keys }));
  });
  await new Promise<void>((done) => endpoint.server.listen(0, '127.0.0.1', done));
  const address = endpoint.server.address();
  endpoint.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
  return endpoint;
}

let jwksB: JwksEndpoint;
let attackerJwks: JwksEndpoint;
let app: ReturnType<typeof testApp>['app'];
let logs: string[];
let clients: ReturnType<typeof parseTrustedClients>;

beforeAll(async () => {
  jwksB = await jwksEndpoint([jwk(rsa.publicKey, 'b1')]);
  attackerJwks = await jwksEndpoint([jwk(rsa.publicKey, 'b1')]);
  clients = parseTrustedClients(
    {
      clients: [
        { iss: ISS_A, jwks: { keys: [jwk(ec.publicKey, 'a1')] } },
        { iss: ISS_B, jwksUrls: [jwksB.url], algorithms: ['RS384'], tenants: ['tenant-1'] },
      ],
    },
    'test clients',
  );
  ({ app, logs } = testApp({ verifyClient: clientVerifier(clients) }));
});

afterAll(async () => {
  await Promise.all([jwksB, attackerJwks].map((e) => new Promise((done) => e.server.close(done))));
});

function body(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'), 'utf8')) as Record<string, unknown>;
}

interface Claims {
  iss?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  jti?: string;
  tenant?: string;
}

const now = () => Math.floor(Date.now() / 1000);

function claims(overrides: Claims = {}): Claims {
  return { iss: ISS_A, aud: AUD, iat: now(), exp: now() + 300, jti: randomUUID(), ...overrides };
}

function signEs384(payload: Claims, header: Record<string, unknown> = {}): string {
  return jwt.sign(payload, ec.privateKey, { algorithm: 'ES384', header: { alg: 'ES384', typ: 'JWT', kid: 'a1', ...header } });
}

function signRs384(payload: Claims, header: Record<string, unknown> = {}): string {
  return jwt.sign(payload, rsa.privateKey, { algorithm: 'RS384', header: { alg: 'RS384', typ: 'JWT', kid: 'b1', jku: jwksB.url, ...header } });
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function expectRejected(token: string | undefined, reason: string) {
  logs.length = 0;
  const call = request(app).post(SIGN_PATH);
  const res = await (token === undefined ? call : call.set('Authorization', `Bearer ${token}`)).send(body()).expect(401);
  expect(res.headers['www-authenticate']).toBe('Bearer');
  expect(res.body).toEqual({
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'login',
        details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_UNAUTHORIZED' }], text: 'ERR_UNAUTHORIZED' },
        diagnostics: 'Authentication required',
      },
    ],
  });
  const rejected = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'client JWT rejected');
  expect(rejected?.reason).toContain(reason);
  if (token) expect(logs.join('\n')).not.toContain(token);
}

describe('accepted tokens', () => {
  it('an ES384 token verified with the inline key', async () => {
    const res = await request(app)
      .post(SIGN_PATH)
      .set('Authorization', `Bearer ${signEs384(claims())}`)
      .send(body())
      .expect(200);
    expect(res.body.cards).toHaveLength(1);
  });

  it('an RS384 token whose jku is on the client entry, the key fetched from that JWKS once and cached', async () => {
    // A verifier of its own, so that its cache starts empty whatever ran before.
    const fresh = testApp({ verifyClient: clientVerifier(clients) }).app;
    const hitsBefore = jwksB.hits;
    for (let i = 0; i < 3; i++) {
      await request(fresh)
        .post(SIGN_PATH)
        .set('Authorization', `Bearer ${signRs384(claims({ iss: ISS_B, tenant: 'tenant-1' }))}`)
        .send(body())
        .expect(200);
    }
    expect(jwksB.hits - hitsBefore).toBe(1);
  });

  it('aud as a one-element array', async () => {
    await request(app)
      .post(SIGN_PATH)
      .set('Authorization', `Bearer ${signEs384(claims({ aud: [AUD] }))}`)
      .send(body())
      .expect(200);
  });

  it('logs the client iss and jti, never the token', async () => {
    logs.length = 0;
    const token = signEs384(claims());
    await request(app).post(SIGN_PATH).set('Authorization', `Bearer ${token}`).send(body()).expect(200);
    const line = JSON.parse(logs[0] ?? '{}') as { client?: { iss: string } };
    expect(line.client?.iss).toBe(ISS_A);
    expect(logs.join('\n')).not.toContain(token);
  });

  it('feedback needs a token whose aud is the feedback URL', async () => {
    const feedback = { feedback: [{ card: 'c1', outcome: 'overridden', outcomeTimestamp: '2026-11-26T12:00:00Z' }] };
    await request(app).post(`${SIGN_PATH}/feedback`).send(feedback).expect(401);
    await request(app)
      .post(`${SIGN_PATH}/feedback`)
      .set('Authorization', `Bearer ${signEs384(claims())}`)
      .send(feedback)
      .expect(401);
    const token = signEs384(claims({ aud: `${AUD}/feedback` }));
    await request(app).post(`${SIGN_PATH}/feedback`).set('Authorization', `Bearer ${token}`).send(feedback).expect(200);
  });

  it('leaves discovery and CORS preflights open', async () => {
    await request(app).get('/cds-services').expect(200);
    await request(app).options(SIGN_PATH).set('Origin', 'https://sandbox.cds-hooks.org').set('Access-Control-Request-Method', 'POST').expect(204);
  });
});

describe('rejected tokens: 401, WWW-Authenticate: Bearer, no details', () => {
  it('no Authorization header', async () => {
    await expectRejected(undefined, 'no bearer token');
  });

  it('a malformed token', async () => {
    await expectRejected('not.a.jwt', 'malformed token');
  });

  it('alg none', async () => {
    await expectRejected(`${base64url({ alg: 'none', typ: 'JWT', kid: 'a1' })}.${base64url(claims())}.`, 'algorithm none is not accepted');
  });

  it('HS256 signed with the public key as the secret', async () => {
    const publicPem = ec.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const token = jwt.sign(claims(), publicPem, { algorithm: 'HS256', header: { alg: 'HS256', typ: 'JWT', kid: 'a1' } });
    await expectRejected(token, 'algorithm HS256 is not accepted');
  });

  it('a token whose header claims ES384 but the client allows only RS384', async () => {
    await expectRejected(signEs384(claims({ iss: ISS_B, tenant: 'tenant-1' }), { kid: 'b1' }), 'algorithm ES384 is not accepted');
  });

  it('an unknown iss', async () => {
    await expectRejected(signEs384(claims({ iss: 'https://evil.example.org' })), 'unknown iss');
  });

  it('an unknown kid', async () => {
    await expectRejected(signEs384(claims(), { kid: 'zz' }), 'no key with that kid');
  });

  it('a wrong aud', async () => {
    await expectRejected(signEs384(claims({ aud: `${PUBLIC_URL}/cds-services/glutamine-order-select` })), 'aud is not the URL called');
    await expectRejected(signEs384(claims({ aud: [AUD, 'https://other.example.org'] })), 'aud is not the URL called');
  });

  it('an expired token', async () => {
    await expectRejected(signEs384(claims({ iat: now() - 600, exp: now() - 120 })), 'jwt expired');
  });

  it('iat in the future', async () => {
    await expectRejected(signEs384(claims({ iat: now() + 300, exp: now() + 600 })), 'iat is in the future');
  });

  it('a lifetime longer than an hour', async () => {
    await expectRejected(signEs384(claims({ exp: now() + 3700 })), 'lifetime longer than an hour');
  });

  it('no jti', async () => {
    const payload = claims();
    delete payload.jti;
    await expectRejected(signEs384(payload), 'no jti');
  });

  it('a replayed jti', async () => {
    const token = signEs384(claims());
    await request(app).post(SIGN_PATH).set('Authorization', `Bearer ${token}`).send(body()).expect(200);
    await expectRejected(token, 'jti replayed');
  });

  it('a jku that is not on the client entry — and it is never fetched', async () => {
    const hitsBefore = attackerJwks.hits;
    await expectRejected(signRs384(claims({ iss: ISS_B, tenant: 'tenant-1' }), { jku: attackerJwks.url }), "jku is not on the client's jwksUrls");
    expect(attackerJwks.hits).toBe(hitsBefore);
  });

  it('a tampered payload', async () => {
    const [header, , signature] = signEs384(claims()).split('.');
    const forged = `${header ?? ''}.${base64url(claims({ aud: AUD, iss: ISS_A }))}.${signature ?? ''}`;
    await expectRejected(forged, 'invalid signature');
  });

  it('a tenant not on the list, or no tenant', async () => {
    await expectRejected(signRs384(claims({ iss: ISS_B, tenant: 'tenant-2' })), 'tenant not allowed');
    await expectRejected(signRs384(claims({ iss: ISS_B })), 'tenant not allowed');
  });
});

describe('trusted clients file', () => {
  it.each([
    [{ clients: [{ iss: 'x', jwks: { keys: [jwk(ec.publicKey, 'a')] }, algorithms: ['HS256'] }] }, 'clients.0.algorithms.0: must be one of'],
    [{ clients: [{ iss: 'x', jwksUrls: ['http://ehr.example.org/jwks.json'] }] }, 'clients.0.jwksUrls.0: must be an https URL'],
    [{ clients: [{ iss: 'x' }] }, 'clients.0: needs jwks, jwksUrls or both'],
    [{ clients: [{ iss: 'x', jwks: { keys: [{ ...ec.publicKey.export({ format: 'jwk' }) }] } }] }, 'clients.0.jwks.keys.0.kid'],
    [{ clients: [{ iss: 'x', jwks: { keys: [jwk(ec.privateKey, 'p')] } }] }, 'clients.0.jwks.keys.0: is a private key'],
    [
      {
        clients: [
          { iss: 'x', jwksUrls: ['https://a.example.org/j'] },
          { iss: 'x', jwksUrls: ['https://a.example.org/j'] },
        ],
      },
      "clients.1.iss: 'x' is listed twice",
    ],
  ])('refuses %j', (file, message) => {
    expect(() => parseTrustedClients(file, 'clients.json')).toThrow(message);
  });

  it('the shipped example (the CDS Hooks Sandbox) is valid', () => {
    const example = JSON.parse(readFileSync(new URL('../trusted-clients.example.json', import.meta.url), 'utf8')) as unknown;
    const [sandbox] = parseTrustedClients(example, 'trusted-clients.example.json');
    expect(sandbox).toMatchObject({
      iss: 'https://sandbox.cds-hooks.org',
      jwksUrls: ['https://sandbox.cds-hooks.org/.well-known/jwks.json'],
      algorithms: ['ES384'],
    });
  });
});

describe('trust gaps closed (issue 13)', () => {
  it('a token with a crit header parameter is rejected (RFC 7515 §4.1.11: none is understood here)', async () => {
    await expectRejected(signEs384(claims(), { crit: ['exp'] }), 'crit header parameter not understood');
  });

  it('a client without a tenants list has its tenant claim ignored: not stored, not logged', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'glutamine-tenant-')), 'audit.sqlite');
    const store = new SqliteAuditStore(path);
    const { app: withStore, logs: lines, audit } = testApp({ store, verifyClient: clientVerifier(clients) });
    const res = await request(withStore)
      .post(SIGN_PATH)
      .set('Authorization', `Bearer ${signEs384(claims({ tenant: 'any-hospital' }))}`)
      .send(body())
      .expect(200);
    expect(res.body.cards).toHaveLength(1);
    expect(lines.join('\n')).not.toContain('any-hospital');
    await audit.flush();
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    expect(db.prepare('SELECT client_tenant AS tenant FROM cards').all()).toEqual([{ tenant: null }]);
    db.close();
  });

  it('a key pinned inline is used for its kid even when the token names a listed jku, without fetching it', async () => {
    const pinned = parseTrustedClients(
      { clients: [{ iss: ISS_B, jwks: { keys: [jwk(rsa.publicKey, 'b1')] }, jwksUrls: [jwksB.url], algorithms: ['RS384'], tenants: ['tenant-1'] }] },
      'pinned',
    );
    const hits = jwksB.hits;
    const { app: offline } = testApp({ verifyClient: clientVerifier(pinned) });
    await request(offline)
      .post(SIGN_PATH)
      .set('Authorization', `Bearer ${signRs384(claims({ iss: ISS_B, tenant: 'tenant-1' }))}`)
      .send(body())
      .expect(200);
    expect(jwksB.hits).toBe(hits);
  });

  it('a key removed from the JWKS stops being trusted once the cache is older than its maximum age', async () => {
    const rotating = await jwksEndpoint([jwk(rsa.publicKey, 'b1')]);
    try {
      const entry = parseTrustedClients({ clients: [{ iss: ISS_B, jwksUrls: [rotating.url], algorithms: ['RS384'], tenants: ['tenant-1'] }] }, 'rotating');
      const { app: rotatingApp, logs: lines } = testApp({ verifyClient: clientVerifier(entry, { jwksMaxAgeMs: 100, minRefetchMs: 0 }) });
      const token = () => signRs384(claims({ iss: ISS_B, tenant: 'tenant-1' }), { jku: rotating.url });
      await request(rotatingApp).post(SIGN_PATH).set('Authorization', `Bearer ${token()}`).send(body()).expect(200);
      rotating.keys = [];
      // Wait past the maximum age (a lower bound on waiting, not a timing assertion).
      await new Promise((done) => setTimeout(done, 300));
      await request(rotatingApp).post(SIGN_PATH).set('Authorization', `Bearer ${token()}`).send(body()).expect(401);
      expect(lines.join('\n')).toContain('no key with that kid at the jku');
      // It was refetched (not served from the stale cache).
      expect(rotating.hits).toBeGreaterThan(1);
    } finally {
      await new Promise((done) => rotating.server.close(done));
    }
  });

  it('a jti stays used across a restart: the replay guard is the store', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'glutamine-jti-')), 'audit.sqlite');
    const first = new SqliteAuditStore(path);
    expect(await first.firstUse(ISS_A, 'jti-1', now() + 300, now())).toBe(true);
    expect(await first.firstUse(ISS_A, 'jti-1', now() + 300, now())).toBe(false);
    await first.close();
    const restarted = new SqliteAuditStore(path);
    expect(await restarted.firstUse(ISS_A, 'jti-1', now() + 300, now())).toBe(false);
    // Another issuer's same jti is its own; an expired claim may be taken again.
    expect(await restarted.firstUse(ISS_B, 'jti-1', now() + 300, now())).toBe(true);
    expect(await restarted.firstUse(ISS_A, 'jti-1', now() + 300, now() + 3600)).toBe(true);
    await restarted.close();
  });
});
