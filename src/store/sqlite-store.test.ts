import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeedbackRecord, IssuedCard, RuleCounts } from './audit-store.js';
import { MIGRATIONS } from './sqlite-migrations.js';
import { SqliteAuditStore } from './sqlite-store.js';

/**
 * The analytics counters are kept up to date as cards and feedback arrive (issue 13): they must always
 * say what a full recount of the raw rows says.
 */

const RULES = ['liver-disease', 'hyperammonemia', 'lactulose', 'kidney-disease'] as const;
const DAYS = ['2026-11-24', '2026-11-25', '2026-11-26'] as const;
const REASONS = [undefined, { system: 'urn:glutamine-cds:override-reason', code: 'specialist-advised' }, { code: 'other', display: 'Other' }] as const;

/** The latest outcome of each card, as received, counted from the raw rows (the pre-counter query). */
function recount(db: DatabaseSync, since: string): RuleCounts[] {
  const latest = `SELECT f.* FROM feedback f
    WHERE f.id = (SELECT g.id FROM feedback g WHERE g.card_uuid = f.card_uuid ORDER BY g.received_at DESC, g.id DESC LIMIT 1)`;
  const rows = db
    .prepare(
      `SELECT f.rule_id AS ruleId, COUNT(*) AS issued,
         SUM(CASE WHEN l.outcome = 'accepted' THEN 1 ELSE 0 END) AS accepted,
         SUM(CASE WHEN l.outcome = 'overridden' THEN 1 ELSE 0 END) AS overridden
       FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid LEFT JOIN (${latest}) l ON l.card_uuid = c.uuid
       WHERE c.issued_at >= ? GROUP BY f.rule_id ORDER BY f.rule_id`,
    )
    .all(since) as Array<{ ruleId: string; issued: number; accepted: number; overridden: number }>;
  const reasons = db
    .prepare(
      `SELECT f.rule_id AS ruleId, l.override_system AS system, l.override_code AS code, COUNT(*) AS count
       FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid JOIN (${latest}) l ON l.card_uuid = c.uuid
       WHERE c.issued_at >= ? AND l.outcome = 'overridden' AND l.override_code IS NOT NULL
       GROUP BY f.rule_id, l.override_system, l.override_code ORDER BY count DESC, code`,
    )
    .all(since) as Array<{ ruleId: string; system: string | null; code: string; count: number }>;
  return rows.map((row) => ({
    ...row,
    overrideReasons: reasons.filter((r) => r.ruleId === row.ruleId).map((r) => ({ ...(r.system ? { system: r.system } : {}), code: r.code, count: r.count })),
  }));
}

/** Counts without the display names (the recount does not know which display a client sent last). */
const withoutDisplays = (counts: RuleCounts[]) =>
  counts.map((c) => ({ ...c, overrideReasons: c.overrideReasons.map(({ display: _display, ...rest }) => rest) }));

const cardArb = fc.record({
  rules: fc.uniqueArray(fc.constantFrom(...RULES), { minLength: 1, maxLength: 3 }),
  day: fc.constantFrom(...DAYS),
});
const feedbackArb = fc.record({
  card: fc.nat(),
  outcome: fc.constantFrom('accepted' as const, 'overridden' as const),
  reason: fc.nat(REASONS.length - 1),
  // Mostly in order of arrival; now and then a replica with a slower clock, or a tie.
  receivedDelta: fc.integer({ min: -2, max: 5 }),
});

function issuedCard(index: number, card: { rules: string[]; day: string }): IssuedCard {
  return {
    uuid: `card-${index}`,
    ruleId: card.rules[0] ?? 'liver-disease',
    indicator: 'warning',
    findings: card.rules.map((ruleId) => ({ ruleId, indicator: 'warning' })),
    serviceId: 'glutamine-order-sign',
    hookInstance: 'h',
    issuedAt: `${card.day}T${String(index % 24).padStart(2, '0')}:00:00.000Z`,
  };
}

const stores: SqliteAuditStore[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A database file, so that the recount can read it beside the store. */
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'glutamine-counters-'));
  dirs.push(dir);
  return join(dir, 'audit.sqlite');
}

describe('analytics counters', () => {
  it('always agree with a recount of the raw rows, whatever order cards and answers arrive in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(cardArb, { minLength: 1, maxLength: 12 }),
        fc.array(feedbackArb, { maxLength: 40 }),
        fc.constantFrom(...DAYS),
        async (cards, answers, sinceDay) => {
          const path = tempDb();
          const store = new SqliteAuditStore(path);
          const raw = new DatabaseSync(path, { readOnly: true });
          try {
            const issued = cards.map((card, i) => issuedCard(i, card));
            await store.recordCards(issued);
            await store.recordCards(issued.slice(0, 2)); // a retried write counts once
            let clock = Date.parse('2026-11-27T00:00:00Z');
            for (const [i, answer] of answers.entries()) {
              clock += answer.receivedDelta * 1000;
              const reason = answer.outcome === 'overridden' ? REASONS[answer.reason] : undefined;
              const item: FeedbackRecord = {
                card: issued[answer.card % issued.length]?.uuid ?? 'card-0',
                serviceId: 'glutamine-order-sign',
                outcome: answer.outcome,
                acceptedSuggestions: [],
                ...(reason ? { overrideReason: reason } : {}),
                outcomeTimestamp: new Date(Date.parse('2026-11-26T00:00:00Z') + i * 1000).toISOString(),
                receivedAt: new Date(clock).toISOString(),
              };
              await store.recordFeedback([item]);
            }
            const since = `${sinceDay}T00:00:00.000Z`;
            expect(withoutDisplays(await store.ruleCounts(since))).toEqual(recount(raw, since));
          } finally {
            raw.close();
            await store.close();
          }
        },
      ),
      { seed: 1313, numRuns: 100 },
    );
  });

  it('count a card by the UTC day it was issued on', async () => {
    const store = new SqliteAuditStore(':memory:');
    stores.push(store);
    await store.recordCards([issuedCard(23, { rules: ['lactulose'], day: '2026-11-25' })]); // 23:00Z on the 25th
    expect((await store.ruleCounts('2026-11-25T12:00:00.000Z')).map((c) => c.issued)).toEqual([1]);
    expect(await store.ruleCounts('2026-11-26T00:00:00.000Z')).toEqual([]);
  });

  it('are built from the rows already stored when an older database is migrated', async () => {
    const path = tempDb();
    const db = new DatabaseSync(path);
    // The schema as version 3 left it, with cards and feedback in it.
    for (const sql of MIGRATIONS.slice(0, 3)) db.exec(sql);
    db.exec('PRAGMA user_version = 3');
    const card = db.prepare(`INSERT INTO cards (uuid, rule_id, indicator, service_id, hook_instance, issued_at) VALUES (?, ?, 'warning', 's', 'h', ?)`);
    const finding = db.prepare(`INSERT INTO card_findings (card_uuid, rule_id, indicator) VALUES (?, ?, 'warning')`);
    const answer = db.prepare(
      `INSERT INTO feedback (item_key, card_uuid, known_card, service_id, outcome, accepted_suggestions, override_system, override_code, override_display, outcome_timestamp, received_at)
       VALUES (?, ?, 1, 's', ?, '[]', ?, ?, ?, ?, ?)`,
    );
    card.run('a', 'liver-disease', '2026-11-25T10:00:00.000Z');
    finding.run('a', 'liver-disease');
    finding.run('a', 'lactulose');
    card.run('b', 'kidney-disease', '2026-11-26T10:00:00.000Z');
    finding.run('b', 'kidney-disease');
    // Card a: accepted, then overridden (received later, although its client timestamp is earlier).
    answer.run('k1', 'a', 'accepted', null, null, null, '2026-11-26T09:00:00Z', '2026-11-26T11:00:00.000Z');
    answer.run(
      'k2',
      'a',
      'overridden',
      'urn:glutamine-cds:override-reason',
      'specialist-advised',
      'Specialist advised',
      '2026-11-26T08:00:00Z',
      '2026-11-26T12:00:00.000Z',
    );
    const expected = recount(db, '2026-11-25T00:00:00.000Z');

    db.close();
    const store = new SqliteAuditStore(path);
    stores.push(store);
    const raw = new DatabaseSync(path, { readOnly: true });
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    expect(withoutDisplays(await store.ruleCounts('2026-11-25T00:00:00.000Z'))).toEqual(expected);
    expect((await store.ruleCounts('2026-11-25T00:00:00.000Z')).find((c) => c.ruleId === 'lactulose')).toEqual({
      ruleId: 'lactulose',
      issued: 1,
      accepted: 0,
      overridden: 1,
      overrideReasons: [{ system: 'urn:glutamine-cds:override-reason', code: 'specialist-advised', display: 'Specialist advised', count: 1 }],
    });
    // Answers after the migration keep the counts true.
    await store.recordFeedback([
      {
        card: 'b',
        serviceId: 's',
        outcome: 'accepted',
        acceptedSuggestions: [],
        outcomeTimestamp: '2026-11-26T13:00:00Z',
        receivedAt: '2026-11-26T13:00:00.000Z',
      },
    ]);
    expect(withoutDisplays(await store.ruleCounts('2026-11-25T00:00:00.000Z'))).toEqual(recount(raw, '2026-11-25T00:00:00.000Z'));
    raw.close();
  });
});
