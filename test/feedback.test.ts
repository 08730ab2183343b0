import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { renderTable } from '../src/cli/report.js';
import { ruleAnalytics } from '../src/cds/analytics.js';
import { DAY_MS } from '../src/fhir/dates.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import { FIXTURES_DIR, NOW, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, testApp, testCatalogue } from './helpers.js';
import { startService } from './service-process.js';

/** CDS Hooks 2.0 §Feedback, the card audit behind it, and the analytics a committee reads. */

const ADMIN = 'admin-token-for-tests-0001';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SIGN = '/cds-services/glutamine-order-sign';
const FEEDBACK = `${SIGN}/feedback`;

const stores: SqliteAuditStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'glutamine-audit-')), 'audit.sqlite');
}

function appWith(options: { storeComments?: boolean; path?: string } = {}) {
  const store = new SqliteAuditStore(options.path ?? ':memory:');
  stores.push(store);
  const { app, logs, audit } = testApp({
    store,
    config: {
      publicUrl: PUBLIC_URL,
      maxBodyBytes: 1024 * 1024,
      fhir: NO_OUTBOUND_FHIR_POLICY,
      adminToken: ADMIN,
      retentionDays: 365,
      storeComments: options.storeComments ?? false,
    },
  });
  return { app, store, logs, audit };
}

function fixture(name: string): object {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as object;
}

interface IssuedCard {
  uuid: string;
  source: { topic: { code: string } };
  suggestions?: Array<{ uuid: string }>;
}

async function issue(app: ReturnType<typeof appWith>['app'], name = 'cirrhosis-high-ammonia-lactulose-ckd4'): Promise<IssuedCard[]> {
  const res = await request(app).post(SIGN).send(fixture(name)).expect(200);
  return res.body.cards as IssuedCard[];
}

const accepted = (card: IssuedCard) => ({
  card: card.uuid,
  outcome: 'accepted',
  acceptedSuggestions: [{ id: card.suggestions?.[0]?.uuid ?? 'x' }],
  outcomeTimestamp: '2026-11-26T11:55:00Z',
});
const overridden = (card: IssuedCard, code = 'benefit-outweighs-risk', extra: object = {}) => ({
  card: card.uuid,
  outcome: 'overridden',
  overrideReason: { reason: { system: 'urn:glutamine-cds:override-reason', code }, ...extra },
  outcomeTimestamp: '2026-11-26T11:56:00Z',
});

describe('card audit', () => {
  it('records every card issued, with ids and rule but no patient data', async () => {
    const { app, store, audit } = appWith();
    const cards = await issue(app);
    await audit.flush();
    const counts = await store.ruleCounts('2000-01-01T00:00:00Z');
    expect(counts.map((c) => [c.ruleId, c.issued]).sort()).toEqual([
      ['hyperammonemia', 1],
      ['kidney-disease', 1],
      ['lactulose', 1],
      ['liver-disease', 1],
    ]);
    // Liver, ammonia and lactulose are one card (revision 2, item 23), counted for each rule it carries.
    expect(cards).toHaveLength(2);
  });

  it('counts feedback on a merged card for every rule it carries', async () => {
    const { app, store } = appWith();
    const [merged, kidney] = await issue(app);
    if (!merged || !kidney) throw new Error('two cards expected');
    await request(app)
      .post(FEEDBACK)
      .send({ feedback: [overridden(merged, 'specialist-advised'), accepted(kidney)] })
      .expect(200);
    const byRule = new Map((await ruleAnalytics(store, testCatalogue(), new Date('2000-01-01T00:00:00Z'), NOW)).rules.map((r) => [r.ruleId, r]));
    for (const rule of ['liver-disease', 'hyperammonemia', 'lactulose']) {
      expect(byRule.get(rule), rule).toMatchObject({
        issued: 1,
        accepted: 0,
        overridden: 1,
        overrideRate: 1,
        topOverrideReasons: [{ code: 'specialist-advised', count: 1 }],
      });
    }
    expect(byRule.get('kidney-disease')).toMatchObject({ issued: 1, accepted: 1, overridden: 0 });
    const table = renderTable(await ruleAnalytics(store, testCatalogue(), new Date('2000-01-01T00:00:00Z'), NOW));
    expect(table).toMatch(/^lactulose\s+1\s+0\s+1\s+100\.0%/m);
  });

  it('keeps the database free of patient identifiers and clinical values', async () => {
    const path = tempDb();
    const { app, store, audit } = appWith({ path });
    await issue(app);
    await audit.flush();
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const dump = JSON.stringify([db.prepare('SELECT * FROM cards').all(), db.prepare('SELECT * FROM feedback').all()]);
    db.close();
    for (const secret of ['pat-1001', 'Cirrhosis', '19943007', 'umol', 'Lactulose', '1968-04-02']) expect(dump).not.toContain(secret);
    expect(dump).toContain('liver-disease');
  });
});

describe('POST /cds-services/{id}/feedback', () => {
  it('stores accepted and overridden outcomes and answers 200', async () => {
    const { app } = appWith();
    const [liver, ammonia] = await issue(app);
    if (!liver || !ammonia) throw new Error('cards expected');
    const res = await request(app)
      .post(FEEDBACK)
      .send({ feedback: [accepted(liver), overridden(ammonia)] })
      .expect(200);
    expect(res.body).toEqual({ stored: 2, duplicates: 0, unknownCards: 0 });
  });

  it('is idempotent: the same item posted twice is stored once', async () => {
    const { app, store } = appWith();
    const [liver] = await issue(app);
    if (!liver) throw new Error('card expected');
    await request(app)
      .post(FEEDBACK)
      .send({ feedback: [overridden(liver)] })
      .expect(200);
    const again = await request(app)
      .post(FEEDBACK)
      .send({ feedback: [overridden(liver)] })
      .expect(200);
    expect(again.body).toEqual({ stored: 0, duplicates: 1, unknownCards: 0 });
    expect((await store.ruleCounts('2000-01-01T00:00:00Z')).find((c) => c.ruleId === 'liver-disease')?.overridden).toBe(1);
  });

  it('counts, but does not store, feedback on a card it never issued', async () => {
    const { app, store } = appWith({});
    const res = await request(app)
      .post(FEEDBACK)
      .send({ feedback: [{ card: '4e0a3a1e-3283-4575-ab82-028d55fe2719', outcome: 'overridden', outcomeTimestamp: '2021-12-11T10:05:31Z' }] })
      .expect(200);
    expect(res.body).toEqual({ stored: 0, duplicates: 0, unknownCards: 1 });
    expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([]);
  });

  it('accepts the spec example (acceptedSuggestions) and an override with only code and system (the Sandbox)', async () => {
    const { app } = appWith();
    const spec = {
      card: '4e0a3a1e-3283-4575-ab82-028d55fe2719',
      outcome: 'accepted',
      acceptedSuggestions: [{ id: 'e56e1945-20b3-4393-8503-a1a20fd73152' }],
      outcomeTimestamp: '2021-12-11T10:05:31Z',
    };
    await request(app)
      .post(FEEDBACK)
      .send({ feedback: [spec] })
      .expect(200);
  });

  it.each([
    [{}, 'feedback is required'],
    [{ feedback: [] }, 'feedback must not be empty'],
    [{ feedback: [{ outcome: 'accepted', acceptedSuggestions: [{ id: 'x' }], outcomeTimestamp: '2026-11-26T12:00:00Z' }] }, 'feedback.0.card is required'],
    [{ feedback: [{ card: 'c', outcome: 'ignored', outcomeTimestamp: '2026-11-26T12:00:00Z' }] }, "feedback.0.outcome must be 'accepted' or 'overridden'"],
    [
      { feedback: [{ card: 'c', outcome: 'accepted', outcomeTimestamp: '2026-11-26T12:00:00Z' }] },
      'feedback.0.acceptedSuggestions is required when the outcome is accepted',
    ],
    [
      { feedback: [{ card: 'c', outcome: 'overridden', outcomeTimestamp: '2026-11-26T13:00:00+01:00' }] },
      'feedback.0.outcomeTimestamp must be an RFC 3339 date-time in UTC',
    ],
    [{ feedback: [{ card: 'c', outcome: 'overridden' }] }, 'feedback.0.outcomeTimestamp is required'],
  ])('400 naming the field for %j', async (body, message) => {
    const { app } = appWith();
    const res = await request(app).post(FEEDBACK).send(body).expect(400);
    expect(res.body.issue.map((i: { diagnostics: string }) => i.diagnostics).join(' | ')).toContain(message);
  });

  it('404 for an unknown service', async () => {
    const { app } = appWith();
    await request(app).post('/cds-services/nope/feedback').send({ feedback: [] }).expect(404);
  });

  it('keeps userComment only when CDS_STORE_COMMENTS=true', async () => {
    for (const storeComments of [false, true]) {
      const path = tempDb();
      const { app, store } = appWith({ storeComments, path });
      const [liver] = await issue(app);
      if (!liver) throw new Error('card expected');
      await request(app)
        .post(FEEDBACK)
        .send({ feedback: [overridden(liver, 'not-current', { userComment: 'Mr Smith stopped drinking in 2024' })] })
        .expect(200);
      await store.close();
      const db = new DatabaseSync(path, { readOnly: true });
      const comments = db.prepare('SELECT user_comment AS c FROM feedback').all() as Array<{ c: string | null }>;
      db.close();
      expect(comments.map((r) => r.c)).toEqual([storeComments ? 'Mr Smith stopped drinking in 2024' : null]);
    }
  });

  it('stores all of 200 concurrent feedback posts', async () => {
    const path = tempDb();
    const { app, store } = appWith({ path });
    // Feedback is stored only for cards the service issued: issue 200 first.
    await store.recordCards(
      Array.from({ length: 200 }, (_, i) => ({
        uuid: `card-${i}`,
        ruleId: 'lactulose',
        indicator: 'warning',
        findings: [{ ruleId: 'lactulose', indicator: 'warning' }],
        serviceId: 'glutamine-order-sign',
        hookInstance: 'h',
        issuedAt: NOW.toISOString(),
      })),
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const statuses = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const res = await fetch(`${base}${FEEDBACK}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ feedback: [{ card: `card-${i}`, outcome: 'overridden', outcomeTimestamp: '2026-11-26T11:59:00Z' }] }),
          });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
    await store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM feedback').get() as { n: number };
    db.close();
    expect(n).toBe(200);
  });
});

describe('analytics', () => {
  it('GET /analytics/rules needs the admin token and reports per rule', async () => {
    const { app } = appWith();
    const first = await issue(app);
    const second = await issue(app);
    const [liver1, ammonia1] = first;
    const [liver2] = second;
    if (!liver1 || !ammonia1 || !liver2) throw new Error('cards expected');
    await request(app)
      .post(FEEDBACK)
      .send({ feedback: [overridden(liver1, 'specialist-advised'), accepted(liver2), overridden(ammonia1, 'not-current')] })
      .expect(200);

    const unauthorized = await request(app).get('/analytics/rules').expect(401);
    expect(unauthorized.headers['www-authenticate']).toBe('Bearer');
    expect(unauthorized.body.issue[0]).toMatchObject({ code: 'login', details: { coding: [{ system: 'urn:glutamine-cds:error', code: 'ERR_UNAUTHORIZED' }] } });
    await request(app).get('/analytics/rules').set('Authorization', 'Bearer wrong-token-wrong-token').expect(401);
    const res = await request(app).get('/analytics/rules').set('Authorization', `Bearer ${ADMIN}`).expect(200);
    // Counts are kept per UTC day: the default window starts at midnight, CDS_RETENTION_DAYS ago.
    expect(res.body.since).toBe(`${new Date(NOW.getTime() - 365 * DAY_MS).toISOString().slice(0, 10)}T00:00:00.000Z`);
    const liver = res.body.rules.find((r: { ruleId: string }) => r.ruleId === 'liver-disease');
    expect(liver).toEqual({
      ruleId: 'liver-disease',
      issued: 2,
      accepted: 1,
      overridden: 1,
      overrideRate: 0.5,
      // Feedback may still carry the older urn:glutamine-cds:override-reason codes: named from cards/.
      topOverrideReasons: [{ code: 'specialist-advised', display: "Recommended by the patient's specialist", count: 1 }],
      signals: [],
    });
    expect(res.body.rules.find((r: { ruleId: string }) => r.ruleId === 'active-cancer')).toEqual({
      ruleId: 'active-cancer',
      issued: 0,
      accepted: 0,
      overridden: 0,
      overrideRate: 0,
      topOverrideReasons: [],
      signals: [],
    });
    const later = await request(app).get('/analytics/rules?since=2030-01-01').set('Authorization', `Bearer ${ADMIN}`).expect(200);
    expect(later.body.rules.every((r: { issued: number }) => r.issued === 0)).toBe(true);
    const sameDay = await request(app).get(`/analytics/rules?since=${NOW.toISOString()}`).set('Authorization', `Bearer ${ADMIN}`).expect(200);
    expect(sameDay.body.since).toBe(`${NOW.toISOString().slice(0, 10)}T00:00:00.000Z`);
    expect(sameDay.body.rules.find((r: { ruleId: string }) => r.ruleId === 'liver-disease')?.issued).toBe(2);
    for (const bad of ['yesterday', '', '+010000-01-01', '2026-02-30x']) {
      const res400 = await request(app)
        .get(`/analytics/rules?since=${encodeURIComponent(bad)}`)
        .set('Authorization', `Bearer ${ADMIN}`)
        .expect(400);
      expect(res400.body.issue[0].diagnostics).toMatch(/since must be a date/);
    }
    await request(app).get('/analytics/rules?since=2026-01-01&since=2026-02-01').set('Authorization', `Bearer ${ADMIN}`).expect(400);
  });

  it('takes the standard override reasons (HL7 non-adherence-reason-codes) and flags the signals of a bad alert', async () => {
    const { app, store } = appWith();
    const HL7 = 'http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes';
    const issued = [await issue(app), await issue(app), await issue(app)].map(([merged]) => merged);
    const byCode = (card: IssuedCard | undefined, code: string) => ({
      card: card?.uuid,
      outcome: 'overridden',
      // The Sandbox sends code and system only: the display comes from cards/.
      overrideReason: { reason: { system: HL7, code } },
      outcomeTimestamp: '2026-11-26T11:56:00Z',
    });
    await request(app)
      .post(FEEDBACK)
      .send({ feedback: [byCode(issued[0], 'cds-not-applicable'), byCode(issued[1], 'cds-not-applicable'), byCode(issued[2], 'risk-benefit-ratio')] })
      .expect(200);
    const report = await ruleAnalytics(store, testCatalogue(), new Date('2000-01-01T00:00:00Z'), NOW);
    expect(report.rules.find((r) => r.ruleId === 'liver-disease')).toMatchObject({
      overridden: 3,
      overrideRate: 1,
      topOverrideReasons: [
        { code: 'cds-not-applicable', display: 'PC CDS does not apply to patient', count: 2 },
        { code: 'risk-benefit-ratio', display: 'Recipient assessment of risk/benefit ratio', count: 1 },
      ],
      // All overridden (above 90 %), and two of three say the card does not apply (above half).
      signals: ['override-rate-above-90%', 'mostly-not-applicable'],
    });
    // Thirty days on, the signals have aged out; the counts since 2000 stay.
    const later = await ruleAnalytics(store, testCatalogue(), new Date('2000-01-01T00:00:00Z'), new Date(NOW.getTime() + 40 * DAY_MS));
    expect(later.rules.find((r) => r.ruleId === 'liver-disease')).toMatchObject({ overridden: 3, signals: [] });
  });

  it('is absent without CDS_ADMIN_TOKEN', async () => {
    const { app } = testApp();
    await request(app).get('/analytics/rules').expect(404);
  });

  it('npm run report refuses a database that is not there, rather than creating an empty one', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'glutamine-report-')), 'nope.sqlite');
    const run = spawnSync(process.execPath, ['bin/glutamine-cds.mjs', 'report'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', CDS_DB_PATH: missing },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`glutamine-cds report: No audit database at ${missing}`);
    expect(existsSync(missing)).toBe(false);
  });

  it('npm run report prints the same as a table', async () => {
    const { app, store } = appWith();
    const [liver] = await issue(app);
    if (!liver) throw new Error('card expected');
    await request(app)
      .post(FEEDBACK)
      .send({ feedback: [overridden(liver)] })
      .expect(200);
    const table = renderTable(await ruleAnalytics(store, testCatalogue(), new Date('2000-01-01T00:00:00Z'), NOW));
    expect(table).toMatch(/^liver-disease\s+1\s+0\s+1\s+100\.0%\s+Benefit outweighs risk; patient will be monitored \(1\)\s+override-rate-above-90%$/m);
    expect(table).toMatch(/^active-cancer\s+0\s+0\s+0\s+0\.0%\s+—\s+—$/m);
  });

  it('migrations run once and are recorded in the schema version', async () => {
    const path = tempDb();
    const first = new SqliteAuditStore(path);
    expect(first.schemaVersion).toBe(5);
    await first.close();
    const second = new SqliteAuditStore(path);
    stores.push(second);
    expect(second.schemaVersion).toBe(5);
  });
});

describe('no data lost', () => {
  it('feedback answered 200 survives a SIGKILL right after; SIGTERM closes cleanly', async () => {
    const db = tempDb();
    const first = startService({ PORT: '0', CDS_DB_PATH: db });
    const { port } = await first.listening();
    // A card the service issued, then feedback on it.
    const issued = await fetch(`http://127.0.0.1:${port}${SIGN}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(fixture('cirrhosis-order-sign')),
    });
    const card = ((await issued.json()) as { cards: Array<{ uuid: string }> }).cards[0]?.uuid ?? '';
    const res = await fetch(`http://127.0.0.1:${port}${FEEDBACK}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ feedback: [{ card, outcome: 'overridden', outcomeTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] }),
    });
    expect(res.status).toBe(200);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');

    const second = startService({ PORT: '0', CDS_DB_PATH: db, CDS_ADMIN_TOKEN: ADMIN });
    await second.listening();
    const reopened = new DatabaseSync(db, { readOnly: true });
    const rows = reopened.prepare('SELECT card_uuid AS card FROM feedback').all();
    reopened.close();
    expect(rows).toEqual([{ card }]);
    second.child.kill('SIGTERM');
    const [code] = (await once(second.child, 'exit')) as [number];
    expect(code).toBe(0);
  }, 30000);
});
