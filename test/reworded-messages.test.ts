import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TrustedClient } from '../src/auth/trusted-clients.js';
import { clientVerifier } from '../src/auth/verify-client-jwt.js';
import { cardFindings } from '../src/cds/cards.js';
import type { Card } from '../src/cds/card-schema.js';
import { CatalogueError, rewordMessagesForTests } from '../src/errors.js';
import { loadCatalogue } from '../src/rules/load-catalogue.js';
import { startLocalFhirServer } from '../scripts/local-fhir-server.js';
import type { LocalFhirServer } from '../scripts/local-fhir-server.js';
import { CARDS_DIR, FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, TEST_FHIR_POLICY, testApp } from './helpers.js';

/**
 * No behaviour reads message text (issue 14): every message the service writes — errors, FHIR fetch
 * failures, JWT rejections — is reworded through `rewordMessagesForTests`, and each situation must
 * behave exactly as with the real wording: the same status, cards, findings, actions, error codes,
 * rejection reasons and catalogue error codes. Each check also proves the rewording took effect.
 */

/** Words in reverse order, in brackets: every message changes, and none still ends as it did. */
const reword = (text: string): string => `⟦${text.split(' ').reverse().join(' ')}⟧`;

afterAll(() => {
  rewordMessagesForTests(undefined);
});

/** Runs `situation` with the real wording and then reworded, returning both results. */
async function bothWordings<T>(situation: () => Promise<T> | T): Promise<[T, T]> {
  rewordMessagesForTests(undefined);
  const asWritten = await situation();
  rewordMessagesForTests(reword);
  try {
    return [asWritten, await situation()];
  } finally {
    rewordMessagesForTests(undefined);
  }
}

/** What a hook or error response does, without any of its wording. */
function behaviour(res: { status: number; body: unknown }) {
  const body = res.body as { cards?: Card[]; issue?: Array<{ code: string; details?: unknown; expression?: string[] }> };
  return {
    status: res.status,
    cards: (body.cards ?? []).map((card) => ({
      indicator: card.indicator,
      topic: card.source.topic?.code,
      findings: cardFindings(card).map((f) => `${f.rule}:${f.indicator}`),
      actions: card.suggestions?.flatMap((s) => (s.actions ?? []).map((a) => `${a.type} ${a.resourceId ?? ''}`)),
      selectionBehavior: card.selectionBehavior,
    })),
    issues: (body.issue ?? []).map((i) => ({ code: i.code, details: i.details, expression: i.expression })),
  };
}

const SIGN = '/cds-services/glutamine-order-sign';
const scenarioDir = join(FIXTURES_DIR, 'scenarios');
const scenarios = readdirSync(scenarioDir)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
  .map((f) => f.replace(/\.json$/, ''));

function scenario(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(scenarioDir, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

describe('reworded messages change no behaviour', () => {
  it.each(scenarios)('scenario %s', async (name) => {
    const body = scenario(name);
    const expected = JSON.parse(readFileSync(join(scenarioDir, `${name}.expected.json`), 'utf8')) as { service: string };
    const post = async () => {
      const { app } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY } });
      return request(app).post(`/cds-services/${expected.service}`).send(body);
    };
    const [asWritten, reworded] = await bothWordings(post);
    expect(behaviour(reworded)).toEqual(behaviour(asWritten));
  });

  it('client errors: the same status, issue codes and fields; the diagnostics reworded', async () => {
    const bad = [
      { hook: 'order-sign' },
      { hook: 'order-select', hookInstance: 'h', context: { patientId: 'p', userId: 'u', draftOrders: { resourceType: 'Bundle', entry: [] } } },
      { ...scenario('cirrhosis-order-sign'), hookInstance: 'x'.repeat(200) },
    ];
    for (const body of bad) {
      const [asWritten, reworded] = await bothWordings(async () => request(testApp().app).post(SIGN).send(body));
      expect(behaviour(reworded)).toEqual(behaviour(asWritten));
      expect(reworded.body.issue[0].diagnostics).toBe(reword(asWritten.body.issue[0].diagnostics));
    }
  });

  describe('FHIR fetch failures', () => {
    const servers: LocalFhirServer[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    });

    it.each([
      ['a 404 for every search', 404],
      ['a 500 for every search', 500],
      ['an OperationOutcome saying not supported', 400],
    ])('%s', async (_label, status) => {
      const server = await startLocalFhirServer({
        resources: [],
        intercept: () => ({
          status,
          body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: status === 400 ? 'not-supported' : 'exception', diagnostics: 'no' }] },
        }),
      });
      servers.push(server);
      const body: Record<string, unknown> = { ...scenario('cirrhosis-high-ammonia-lactulose-ckd4'), fhirServer: server.baseUrl };
      delete body.prefetch;
      const post = async () => {
        const { app } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: TEST_FHIR_POLICY } });
        return request(app).post(SIGN).send(body);
      };
      const [asWritten, reworded] = await bothWordings(post);
      expect(behaviour(reworded)).toEqual(behaviour(asWritten));
      // The info card says what was not checked, in the reworded words.
      expect(JSON.stringify(reworded.body)).toContain('⟦');
    });
  });

  it('JWT rejections keep their reason codes (the metric labels)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const iss = 'https://ehr.example.org';
    const clients: TrustedClient[] = [{ iss, algorithms: ['ES384'], jwksUrls: ['https://ehr.example.org/jwks'], keys: new Map([['k1', publicKey]]) }];
    const audience = `${PUBLIC_URL}${SIGN}`;
    const now = Math.floor(Date.now() / 1000);
    const token = (header: object, claims: object = {}) =>
      `Bearer ${jwt.sign({ iss, aud: audience, iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims }, privateKey, { algorithm: 'ES384', keyid: 'k1', header: { alg: 'ES384', ...header } })}`;
    const attempts = [
      undefined,
      'Bearer not-a-jwt',
      token({ jku: 'https://attacker.example/jwks' }),
      token({ kid: 'unknown' }),
      token({ crit: ['exp'] }),
      token({}, { aud: 'https://elsewhere.example.org' }),
    ];
    const [asWritten, reworded] = await bothWordings(async () => {
      const verify = clientVerifier(clients);
      return Promise.all(attempts.map(async (a) => verify(a, audience)));
    });
    expect(reworded.map((r) => (r.ok ? 'ok' : r.code))).toEqual(asWritten.map((r) => (r.ok ? 'ok' : r.code)));
    expect(asWritten.map((r) => (r.ok ? 'ok' : r.code))).toEqual(['missing_token', 'malformed', 'jku', 'kid', 'crit', 'aud']);
    expect(reworded.map((r) => (r.ok ? '' : r.reason))).toEqual(asWritten.map((r) => (r.ok ? '' : reword(r.reason))));
  });

  it('a catalogue naming a value set it lacks is still told apart from one that cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glutamine-cards-'));
    try {
      cpSync(CARDS_DIR, dir, { recursive: true });
      rmSync(join(dir, 'valuesets', 'lactulose.json'));
      const [asWritten, reworded] = await bothWordings(() => {
        try {
          loadCatalogue(dir);
          return undefined;
        } catch (error) {
          return error as CatalogueError;
        }
      });
      expect(reworded).toBeInstanceOf(CatalogueError);
      expect(reworded?.code).toBe(asWritten?.code);
      expect(asWritten?.message).toMatch(/unknown value set 'lactulose'/);
      // The unreadable file was recognised by its code and turned into "unknown value set", reworded.
      expect(reworded?.message).toMatch(/^⟦.*'lactulose' set value unknown.*⟧$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
