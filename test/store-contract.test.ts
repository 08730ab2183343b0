import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { AuditStore, FeedbackRecord, IssuedCard, RuleCounts } from '../src/store/audit-store.js';
import { PostgresAuditStore } from '../src/store/postgres-store.js';
import type { ReplayGuard } from '../src/store/replay-guard.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import { sharedPostgres } from './shared-postgres.js';

/**
 * One contract, two stores: the same tests against SQLite (embedded, the default) and PostgreSQL
 * (CDS_DATABASE_URL; a real server, started by the test from the npm registry).
 */

type Store = AuditStore & ReplayGuard;

interface Backend {
  name: string;
  /** A new, empty store, and a way to run the raw recount query against its database. */
  open: () => Promise<{
    store: Store;
    raw: (sql: string, params: string[]) => Promise<unknown[]>;
    /** Another store on the same database (a second replica), closed with the first. */
    second: () => Promise<Store>;
    close: () => Promise<void>;
  }>;
}

const postgres = sharedPostgres();

const sqlite: Backend = {
  name: 'SQLite',
  open: () => {
    const path = join(mkdtempSync(join(tmpdir(), 'glutamine-contract-')), 'audit.sqlite');
    const store = new SqliteAuditStore(path);
    const db = new DatabaseSync(path, { readOnly: true });
    const others: Store[] = [];
    return Promise.resolve({
      store,
      // SQLite numbers its placeholders ?1, ?2 as PostgreSQL does $1, $2.
      raw: (sql, params) => Promise.resolve(db.prepare(sql.replace(/\$(\d)/g, '?$1')).all(...params)),
      second: () => {
        const other = new SqliteAuditStore(path);
        others.push(other);
        return Promise.resolve(other);
      },
      close: async () => {
        db.close();
        for (const other of others) await other.close();
        await store.close();
      },
    });
  },
};

const postgresql: Backend = {
  name: 'PostgreSQL',
  open: async () => {
    const url = await postgres().database();
    const store = await PostgresAuditStore.open(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const others: Store[] = [];
    return {
      store,
      raw: async (sql, params) => (await client.query<Record<string, unknown>>(sql, params)).rows,
      second: async () => {
        const other = await PostgresAuditStore.open(url);
        others.push(other);
        return other;
      },
      close: async () => {
        await client.end();
        for (const other of others) await other.close();
        await store.close();
      },
    };
  },
};

const RULES = ['liver-disease', 'hyperammonemia', 'lactulose', 'kidney-disease'] as const;
const DAYS = ['2026-11-24', '2026-11-25', '2026-11-26'] as const;
const REASONS = [undefined, { system: 'urn:glutamine-cds:override-reason', code: 'specialist-advised' }, { code: 'other', display: 'Other' }] as const;

function card(uuid: string, rules: readonly string[], issuedAt: string, client: { clientIss?: string; clientTenant?: string } = {}): IssuedCard {
  return {
    uuid,
    ruleId: rules[0] ?? 'liver-disease',
    indicator: 'warning',
    findings: rules.map((ruleId) => ({ ruleId, indicator: 'warning' })),
    serviceId: 'glutamine-order-sign',
    hookInstance: 'h',
    issuedAt,
    ...client,
  };
}

function answer(cardId: string, outcome: 'accepted' | 'overridden', receivedAt: string, extra: Partial<FeedbackRecord> = {}): FeedbackRecord {
  return { card: cardId, serviceId: 'glutamine-order-sign', outcome, acceptedSuggestions: [], outcomeTimestamp: receivedAt, receivedAt, ...extra };
}

/** The latest outcome of each card, as received, recounted from the raw rows (the query analytics used to run). */
async function recount(raw: (sql: string, params: string[]) => Promise<unknown[]>, since: string): Promise<RuleCounts[]> {
  const latest = `SELECT f.* FROM feedback f
    WHERE f.id = (SELECT g.id FROM feedback g WHERE g.card_uuid = f.card_uuid ORDER BY g.received_at DESC, g.id DESC LIMIT 1)`;
  const rows = (await raw(
    `SELECT f.rule_id AS "ruleId", COUNT(*) AS issued,
       SUM(CASE WHEN l.outcome = 'accepted' THEN 1 ELSE 0 END) AS accepted,
       SUM(CASE WHEN l.outcome = 'overridden' THEN 1 ELSE 0 END) AS overridden
     FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid LEFT JOIN (${latest}) l ON l.card_uuid = c.uuid
     WHERE c.issued_at >= $1 GROUP BY f.rule_id ORDER BY f.rule_id`,
    [since],
  )) as Array<{ ruleId: string; issued: number | string; accepted: number | string; overridden: number | string }>;
  const reasons = (await raw(
    `SELECT f.rule_id AS "ruleId", l.override_system AS system, l.override_code AS code, COUNT(*) AS count
     FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid JOIN (${latest}) l ON l.card_uuid = c.uuid
     WHERE c.issued_at >= $1 AND l.outcome = 'overridden' AND l.override_code IS NOT NULL
     GROUP BY f.rule_id, l.override_system, l.override_code ORDER BY count DESC, code`,
    [since],
  )) as Array<{ ruleId: string; system: string | null; code: string; count: number | string }>;
  return rows.map((row) => ({
    ruleId: row.ruleId,
    issued: Number(row.issued),
    accepted: Number(row.accepted),
    overridden: Number(row.overridden),
    overrideReasons: reasons
      .filter((r) => r.ruleId === row.ruleId)
      .map((r) => ({ ...(r.system ? { system: r.system } : {}), code: r.code, count: Number(r.count) })),
  }));
}

const withoutDisplays = (counts: RuleCounts[]) =>
  counts.map((c) => ({ ...c, overrideReasons: c.overrideReasons.map(({ display: _display, ...rest }) => rest) }));
/** Reasons of equal count in a stable order: the two databases may break ties differently. */
const sorted = (counts: RuleCounts[]) =>
  counts.map((c) => ({ ...c, overrideReasons: [...c.overrideReasons].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)) }));

describe.each([sqlite, postgresql])('the audit store contract: $name', (backend) => {
  async function withStore(test: (opened: Awaited<ReturnType<Backend['open']>>) => Promise<void>): Promise<void> {
    const opened = await backend.open();
    try {
      await test(opened);
    } finally {
      await opened.close();
    }
  }

  it('makes one repeat-key secret per database: every replica, and every later call, has the same one', async () => {
    await withStore(async ({ store, second }) => {
      const replica = await second();
      const [first, other] = await Promise.all([store.repeatKeySecret(), replica.repeatKeySecret()]);
      expect(first).toMatch(/^[0-9a-f]{64}$/);
      expect(other).toBe(first);
      expect(await store.repeatKeySecret()).toBe(first);
      // A replica started later reads it too.
      expect(await (await second()).repeatKeySecret()).toBe(first);
    });
  });

  it('recalls what was shown, by key, at or after `since`, for one key or many; the last shown wins', async () => {
    await withStore(async ({ store }) => {
      const shown = (key: string, shownAt: string, fingerprint = `f-${key}`) => ({ key, fingerprint, cardUuid: `u-${key}-${shownAt}`, shownAt });
      await store.rememberShown([shown('a', '2026-11-26T08:00:00.000Z'), shown('b', '2026-11-26T09:00:00.000Z'), shown('c', '2026-11-26T10:00:00.000Z')]);
      await store.rememberShown([shown('a', '2026-11-26T11:00:00.000Z', 'f-a2')]);
      expect(await store.recallShown([], '2026-11-26T00:00:00.000Z')).toEqual([]);
      expect(await store.recallShown(['a'], '2026-11-26T00:00:00.000Z')).toEqual([shown('a', '2026-11-26T11:00:00.000Z', 'f-a2')]);
      const many = await store.recallShown(['a', 'b', 'c', 'missing', 'it\'s "quoted"'], '2026-11-26T09:00:00.000Z');
      expect(many.map((s) => s.key).sort()).toEqual(['a', 'b', 'c']);
      expect((await store.recallShown(['b', 'c'], '2026-11-26T09:30:00.000Z')).map((s) => s.key)).toEqual(['c']);
    });
  });

  it('records each card once and counts it for every rule it carries, by UTC day', async () => {
    await withStore(async ({ store }) => {
      const merged = card('c1', ['liver-disease', 'lactulose'], '2026-11-25T23:00:00.000Z');
      await store.recordCards([merged, card('c2', ['kidney-disease'], '2026-11-26T08:00:00.000Z')]);
      await store.recordCards([merged]); // a retried write
      expect(await store.ruleCounts('2026-11-25T12:00:00.000Z')).toEqual([
        { ruleId: 'kidney-disease', issued: 1, accepted: 0, overridden: 0, overrideReasons: [] },
        { ruleId: 'lactulose', issued: 1, accepted: 0, overridden: 0, overrideReasons: [] },
        { ruleId: 'liver-disease', issued: 1, accepted: 0, overridden: 0, overrideReasons: [] },
      ]);
      expect((await store.ruleCounts('2026-11-26T00:00:00.000Z')).map((c) => c.ruleId)).toEqual(['kidney-disease']);
    });
  });

  it('binds feedback to its card: the same service and client, else counted and not stored; repeats are idempotent', async () => {
    await withStore(async ({ store }) => {
      await store.recordCards([card('a', ['liver-disease'], '2026-11-26T08:00:00.000Z', { clientIss: 'https://ehr-a.example.org', clientTenant: 't' })]);
      const mine = { clientIss: 'https://ehr-a.example.org', clientTenant: 't' };
      expect(await store.recordFeedback([answer('a', 'accepted', '2026-11-26T09:00:00.000Z')])).toEqual({ stored: 0, duplicates: 0, unknownCards: 1 });
      expect(await store.recordFeedback([answer('a', 'accepted', '2026-11-26T09:00:00.000Z', { ...mine, serviceId: 'glutamine-order-select' })])).toEqual({
        stored: 0,
        duplicates: 0,
        unknownCards: 1,
      });
      expect(await store.recordFeedback([answer('nope', 'accepted', '2026-11-26T09:00:00.000Z', mine)])).toEqual({ stored: 0, duplicates: 0, unknownCards: 1 });
      const item = answer('a', 'overridden', '2026-11-26T09:00:00.000Z', { ...mine, overrideReason: { system: 'urn:x', code: 'r', display: 'R' } });
      expect(await store.recordFeedback([item])).toEqual({ stored: 1, duplicates: 0, unknownCards: 0 });
      expect(await store.recordFeedback([item])).toEqual({ stored: 0, duplicates: 1, unknownCards: 0 });
      expect(await store.ruleCounts('2026-11-01T00:00:00.000Z')).toEqual([
        { ruleId: 'liver-disease', issued: 1, accepted: 0, overridden: 1, overrideReasons: [{ system: 'urn:x', code: 'r', display: 'R', count: 1 }] },
      ]);
    });
  });

  it('counts a card by the answer it received last, whatever the client stamped on it', async () => {
    await withStore(async ({ store }) => {
      await store.recordCards([card('a', ['lactulose'], '2026-11-26T08:00:00.000Z')]);
      await store.recordFeedback([
        answer('a', 'overridden', '2026-11-26T10:00:00.000Z', { outcomeTimestamp: '2026-11-26T11:00:00.000Z', overrideReason: { code: 'x' } }),
      ]);
      await store.recordFeedback([answer('a', 'accepted', '2026-11-26T10:05:00.000Z', { outcomeTimestamp: '2026-11-26T09:00:00.000Z' })]);
      // An older answer arriving late (a replica with a slow clock) does not win.
      await store.recordFeedback([answer('a', 'overridden', '2026-11-26T10:01:00.000Z', { overrideReason: { code: 'y' } })]);
      expect(await store.ruleCounts('2026-11-01T00:00:00.000Z')).toEqual([{ ruleId: 'lactulose', issued: 1, accepted: 1, overridden: 0, overrideReasons: [] }]);
    });
  });

  it('keeps its counters equal to a recount of the raw rows, whatever order cards and answers arrive in', async () => {
    await withStore(async ({ store, raw }) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ rules: fc.uniqueArray(fc.constantFrom(...RULES), { minLength: 1, maxLength: 3 }), day: fc.constantFrom(...DAYS) }), {
            minLength: 1,
            maxLength: 8,
          }),
          fc.array(
            fc.record({
              card: fc.nat(),
              outcome: fc.constantFrom('accepted' as const, 'overridden' as const),
              reason: fc.nat(REASONS.length - 1),
              delta: fc.integer({ min: -2, max: 5 }),
            }),
            {
              maxLength: 20,
            },
          ),
          async (cards, answers) => {
            // Each run adds its own cards to the same store: the counters must stay right as it grows.
            run += 1;
            const issued = cards.map((c, i) => card(`r${run}-c${i}`, c.rules, `${c.day}T${String(i % 24).padStart(2, '0')}:00:00.000Z`));
            await store.recordCards(issued);
            let clock = Date.parse('2026-11-27T00:00:00Z') + run * 3_600_000;
            for (const a of answers) {
              clock += a.delta * 1000;
              const reason = a.outcome === 'overridden' ? REASONS[a.reason] : undefined;
              await store.recordFeedback([
                answer(issued[a.card % issued.length]?.uuid ?? '', a.outcome, new Date(clock).toISOString(), reason ? { overrideReason: reason } : {}),
              ]);
            }
            for (const day of DAYS) {
              const since = `${day}T00:00:00.000Z`;
              expect(sorted(withoutDisplays(await store.ruleCounts(since)))).toEqual(sorted(await recount(raw, since)));
            }
          },
        ),
        { seed: 1515, numRuns: 25 },
      );
    });
  });

  it('purges cards and feedback older than the retention, and the day counters once the whole day is older', async () => {
    await withStore(async ({ store }) => {
      await store.recordCards([card('old', ['lactulose'], '2020-01-01T00:00:00.000Z'), card('new', ['lactulose'], '2026-11-01T00:00:00.000Z')]);
      await store.recordFeedback([answer('old', 'overridden', '2020-01-01T00:00:00.000Z')]);
      expect(await store.purgeBefore('2025-11-26T00:00:00.000Z')).toBe(2);
      expect(await store.ruleCounts('2000-01-01T00:00:00Z')).toEqual([{ ruleId: 'lactulose', issued: 1, accepted: 0, overridden: 0, overrideReasons: [] }]);
      // Feedback on a purged card is a card it no longer knows.
      expect(await store.recordFeedback([answer('old', 'accepted', '2026-11-26T00:00:00.000Z')])).toEqual({ stored: 0, duplicates: 0, unknownCards: 1 });
    });
  });

  it('claims a jti once: twenty claims at once have exactly one winner; an expired claim may be taken again', async () => {
    await withStore(async ({ store }) => {
      const now = 1_800_000_000;
      const claims = await Promise.all(Array.from({ length: 20 }, () => store.firstUse('https://ehr.example.org', 'jti-1', now + 300, now)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.firstUse('https://other.example.org', 'jti-1', now + 300, now)).toBe(true);
      expect(await store.firstUse('https://ehr.example.org', 'jti-1', now + 900, now + 600)).toBe(true);
    });
  });

  it('answers writable, and leaves nothing behind (the probe row would collide the second time)', async () => {
    await withStore(async ({ store }) => {
      expect(await store.writable()).toBe(true);
      expect(await store.writable()).toBe(true);
    });
  });
});
