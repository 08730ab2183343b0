import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PoolClient } from 'pg';
import { dayOf, feedbackBelongsTo, feedbackItemKey, isLatestAnswer } from './audit-rules.js';
import type { KnownCard } from './audit-rules.js';
import type { AuditStore, FeedbackRecord, IssuedCard, RuleCounts, ShownCard, StoredFeedback } from './audit-store.js';
import type { ReplayGuard } from './replay-guard.js';

/**
 * The audit store on PostgreSQL (CDS_DATABASE_URL), shared by every replica: the same data, rules
 * and analytics counters as the SQLite store (sqlite-store.ts), so feedback posted to any replica
 * finds its card, analytics agree everywhere, and a jti claimed on one replica is claimed for all.
 *
 * Its schema is its own numbered migrations (PostgreSQL's dialect), tracked in schema_migrations and
 * run at start-up under an advisory lock, so that replicas starting together take turns.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE cards (
     uuid text PRIMARY KEY,
     rule_id text NOT NULL,
     indicator text NOT NULL,
     service_id text NOT NULL,
     hook_instance text NOT NULL,
     issued_at text NOT NULL,
     client_iss text,
     client_tenant text,
     latest_outcome text,
     latest_override_system text,
     latest_override_code text,
     latest_received_at text
   );
   CREATE INDEX cards_issued_at ON cards (issued_at);
   CREATE TABLE card_findings (
     card_uuid text NOT NULL REFERENCES cards (uuid) ON DELETE CASCADE,
     rule_id text NOT NULL,
     indicator text NOT NULL,
     PRIMARY KEY (card_uuid, rule_id)
   );
   CREATE TABLE feedback (
     id bigserial PRIMARY KEY,
     item_key text NOT NULL UNIQUE,
     card_uuid text NOT NULL,
     service_id text NOT NULL,
     outcome text NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
     accepted_suggestions text NOT NULL,
     override_system text,
     override_code text,
     override_display text,
     user_comment text,
     outcome_timestamp text NOT NULL,
     received_at text NOT NULL,
     client_iss text
   );
   CREATE INDEX feedback_card ON feedback (card_uuid);
   CREATE INDEX feedback_received_at ON feedback (received_at);
   CREATE TABLE rule_day_counts (
     day text NOT NULL,
     rule_id text NOT NULL,
     issued integer NOT NULL DEFAULT 0,
     accepted integer NOT NULL DEFAULT 0,
     overridden integer NOT NULL DEFAULT 0,
     PRIMARY KEY (day, rule_id)
   );
   CREATE TABLE rule_day_reasons (
     day text NOT NULL,
     rule_id text NOT NULL,
     system text NOT NULL,
     code text NOT NULL,
     display text,
     count integer NOT NULL,
     PRIMARY KEY (day, rule_id, system, code)
   );
   -- Unlogged: a claim is one fast insert. A crash of PostgreSQL itself (not a clean restart) empties
   -- it, which forgets at most an hour of token ids.
   CREATE UNLOGGED TABLE seen_jti (
     iss text NOT NULL,
     jti text NOT NULL,
     expires_at bigint NOT NULL,
     PRIMARY KEY (iss, jti)
   );
   CREATE INDEX seen_jti_expiry ON seen_jti (expires_at);`,
  // 2: repeat suppression, as in SQLite's migration 5.
  `CREATE TABLE shown_cards (
     key text PRIMARY KEY,
     fingerprint text NOT NULL,
     card_uuid text NOT NULL,
     shown_at text NOT NULL
   );
   CREATE INDEX shown_cards_card ON shown_cards (card_uuid);
   CREATE INDEX shown_cards_shown_at ON shown_cards (shown_at);
   CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL);`,
];

/** Advisory lock keys: one for migrations, one so that only one replica purges at a time. */
const MIGRATION_LOCK = 7_150_673_01;
const PURGE_LOCK = 7_150_673_02;

export interface PostgresStoreOptions {
  /** Most connections this replica holds. */
  maxConnections?: number;
  /** How long a query may wait for a connection, and a connection attempt may take. */
  connectTimeoutMs?: number;
}

async function inTransaction<T>(pool: pg.Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export class PostgresAuditStore implements AuditStore, ReplayGuard {
  private claimsSincePrune = 0;
  /** The repeat-key secret, once read (it never changes after it is made); forgotten if reading failed. */
  private secret?: Promise<string>;

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and migrates; throws when the database cannot be reached (open-store.ts retries). */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresAuditStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
    });
    // A connection the server drops (PostgreSQL restarting, a failover) is an event, not a crash: an
    // idle one is reported on the pool, one checked out on the client; the next query reconnects.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      client.on('error', () => undefined);
    });
    const store = new PostgresAuditStore(pool);
    try {
      await store.migrate();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const current = (await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations')).rows[0]?.v ?? 0;
      for (const [i, sql] of MIGRATIONS.entries()) {
        if (i < current) continue;
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        await client.query('COMMIT');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      client.release();
    }
  }

  async schemaVersion(): Promise<number> {
    return (await this.pool.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations')).rows[0]?.v ?? 0;
  }

  async firstUse(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    if (++this.claimsSincePrune >= 1000) {
      this.claimsSincePrune = 0;
      await this.pool.query('DELETE FROM seen_jti WHERE expires_at <= $1', [now]);
    }
    // One insert claims the id, across every replica; an expired claim of the same id may be taken again.
    const result = await this.pool.query(
      `INSERT INTO seen_jti (iss, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_jti.expires_at <= $4`,
      [iss, jti, expiresAt, now],
    );
    return result.rowCount === 1;
  }

  async recordCards(cards: readonly IssuedCard[]): Promise<void> {
    if (cards.length === 0) return;
    const findings = cards.flatMap((c) => c.findings.map((f) => ({ card: c.uuid, ...f })));
    // One statement per batch: new cards, their findings, and the day counters of what was new.
    await this.pool.query(
      `WITH new_cards AS (
         INSERT INTO cards (uuid, rule_id, indicator, service_id, hook_instance, issued_at, client_iss, client_tenant)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
         ON CONFLICT (uuid) DO NOTHING
         RETURNING uuid, issued_at
       ), new_findings AS (
         INSERT INTO card_findings (card_uuid, rule_id, indicator)
         SELECT f.card_uuid, f.rule_id, f.indicator
         FROM unnest($9::text[], $10::text[], $11::text[]) AS f (card_uuid, rule_id, indicator) JOIN new_cards c ON c.uuid = f.card_uuid
         ON CONFLICT DO NOTHING
         RETURNING card_uuid, rule_id
       )
       INSERT INTO rule_day_counts (day, rule_id, issued)
       SELECT substr(c.issued_at, 1, 10), f.rule_id, COUNT(*)::int FROM new_findings f JOIN new_cards c ON c.uuid = f.card_uuid GROUP BY 1, 2
       ON CONFLICT (day, rule_id) DO UPDATE SET issued = rule_day_counts.issued + excluded.issued`,
      [
        cards.map((c) => c.uuid),
        cards.map((c) => c.ruleId),
        cards.map((c) => c.indicator),
        cards.map((c) => c.serviceId),
        cards.map((c) => c.hookInstance),
        cards.map((c) => c.issuedAt),
        cards.map((c) => c.clientIss ?? null),
        cards.map((c) => c.clientTenant ?? null),
        findings.map((f) => f.card),
        findings.map((f) => f.ruleId),
        findings.map((f) => f.indicator),
      ],
    );
  }

  async recordFeedback(items: readonly FeedbackRecord[]): Promise<StoredFeedback> {
    // Committed (synchronous_commit, PostgreSQL's default) before the caller answers 200.
    return inTransaction(this.pool, async (client) => {
      const result = { stored: 0, duplicates: 0, unknownCards: 0 };
      for (const item of items) {
        // The card row is locked: two replicas taking answers on one card move its counts in turn.
        const card = (
          await client.query<KnownCard>(
            `SELECT service_id AS "serviceId", client_iss AS "clientIss", client_tenant AS "clientTenant", issued_at AS "issuedAt",
               latest_outcome AS "latestOutcome", latest_override_system AS "latestOverrideSystem",
               latest_override_code AS "latestOverrideCode", latest_received_at AS "latestReceivedAt"
             FROM cards WHERE uuid = $1 FOR UPDATE`,
            [item.card],
          )
        ).rows[0];
        if (!feedbackBelongsTo(card, item)) {
          result.unknownCards += 1;
          continue;
        }
        const inserted = await client.query(
          `INSERT INTO feedback (item_key, card_uuid, service_id, outcome, accepted_suggestions, override_system, override_code,
             override_display, user_comment, outcome_timestamp, received_at, client_iss)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (item_key) DO NOTHING`,
          [
            feedbackItemKey(item),
            item.card,
            item.serviceId,
            item.outcome,
            JSON.stringify(item.acceptedSuggestions),
            item.overrideReason?.system ?? null,
            item.overrideReason?.code ?? null,
            item.overrideReason?.display ?? null,
            item.userComment ?? null,
            item.outcomeTimestamp,
            item.receivedAt,
            item.clientIss ?? null,
          ],
        );
        if (inserted.rowCount === 0) {
          result.duplicates += 1;
          continue;
        }
        result.stored += 1;
        await this.countLatestOutcome(client, item, card);
        // Feedback ends the card's repeat (issue 16): the next call shows it again.
        await client.query('DELETE FROM shown_cards WHERE card_uuid = $1', [item.card]);
      }
      return result;
    });
  }

  /** As in the SQLite store: a new latest answer moves the card out of its old count and reason, into the new. */
  private async countLatestOutcome(client: PoolClient, item: FeedbackRecord, card: KnownCard): Promise<void> {
    if (!isLatestAnswer(item.receivedAt, card.latestReceivedAt)) return;
    const reason = item.outcome === 'overridden' ? item.overrideReason : undefined;
    await client.query(
      'UPDATE cards SET latest_outcome = $1, latest_override_system = $2, latest_override_code = $3, latest_received_at = $4 WHERE uuid = $5',
      [item.outcome, reason?.system ?? null, reason?.code ?? null, item.receivedAt, item.card],
    );
    const day = dayOf(card.issuedAt);
    const moveReason = (system: string, code: string, display: string | null, delta: number) =>
      client.query(
        `INSERT INTO rule_day_reasons (day, rule_id, system, code, display, count)
         SELECT $1, rule_id, $2, $3, $4, $5 FROM card_findings WHERE card_uuid = $6
         ON CONFLICT (day, rule_id, system, code) DO UPDATE
           SET count = rule_day_reasons.count + excluded.count, display = COALESCE(excluded.display, rule_day_reasons.display)`,
        [day, system, code, display, delta, item.card],
      );
    // The outcome names its counter column: a typed 'accepted' | 'overridden', never client text.
    if (card.latestOutcome !== null) {
      await client.query(
        `UPDATE rule_day_counts SET ${card.latestOutcome} = ${card.latestOutcome} - 1
         WHERE day = $1 AND rule_id IN (SELECT rule_id FROM card_findings WHERE card_uuid = $2)`,
        [day, item.card],
      );
    }
    if (card.latestOutcome === 'overridden' && card.latestOverrideCode !== null)
      await moveReason(card.latestOverrideSystem ?? '', card.latestOverrideCode, null, -1);
    await client.query(
      `UPDATE rule_day_counts SET ${item.outcome} = ${item.outcome} + 1
       WHERE day = $1 AND rule_id IN (SELECT rule_id FROM card_findings WHERE card_uuid = $2)`,
      [day, item.card],
    );
    if (reason) await moveReason(reason.system ?? '', reason.code, reason.display ?? null, 1);
  }

  async ruleCounts(since: string): Promise<RuleCounts[]> {
    const sinceDay = dayOf(since);
    const rows = (
      await this.pool.query<{ ruleId: string; issued: number; accepted: number; overridden: number }>(
        `SELECT rule_id AS "ruleId", SUM(issued)::int AS issued, SUM(accepted)::int AS accepted, SUM(overridden)::int AS overridden
         FROM rule_day_counts WHERE day >= $1 GROUP BY rule_id HAVING SUM(issued) > 0 ORDER BY rule_id`,
        [sinceDay],
      )
    ).rows;
    const reasons = (
      await this.pool.query<{ ruleId: string; system: string; code: string; display: string | null; count: number }>(
        `SELECT rule_id AS "ruleId", system, code, MAX(display) AS display, SUM(count)::int AS count
         FROM rule_day_reasons WHERE day >= $1 GROUP BY rule_id, system, code HAVING SUM(count) > 0 ORDER BY count DESC, code`,
        [sinceDay],
      )
    ).rows;
    return rows.map((row) => ({
      ...row,
      overrideReasons: reasons
        .filter((r) => r.ruleId === row.ruleId)
        .map((r) => ({ ...(r.system ? { system: r.system } : {}), code: r.code, ...(r.display ? { display: r.display } : {}), count: r.count })),
    }));
  }

  async purgeBefore(before: string): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      // One replica purges at a time; the others find the lock taken and leave it to that one.
      const locked = (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [PURGE_LOCK])).rows[0]?.locked;
      if (!locked) return 0;
      const feedback = (await client.query('DELETE FROM feedback WHERE received_at < $1', [before])).rowCount ?? 0;
      const cards = (await client.query('DELETE FROM cards WHERE issued_at < $1', [before])).rowCount ?? 0;
      await client.query('DELETE FROM rule_day_counts WHERE day < $1', [dayOf(before)]);
      await client.query('DELETE FROM rule_day_reasons WHERE day < $1', [dayOf(before)]);
      return feedback + cards;
    });
  }

  async recallShown(keys: readonly string[], since: string): Promise<ShownCard[]> {
    if (keys.length === 0) return [];
    return (
      await this.pool.query<ShownCard>(
        `SELECT key, fingerprint, card_uuid AS "cardUuid", shown_at AS "shownAt" FROM shown_cards WHERE shown_at >= $1 AND key = ANY($2::text[])`,
        [since, keys],
      )
    ).rows;
  }

  async rememberShown(cards: readonly ShownCard[]): Promise<void> {
    if (cards.length === 0) return;
    await this.pool.query(
      `INSERT INTO shown_cards (key, fingerprint, card_uuid, shown_at)
       SELECT DISTINCT ON (key) * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS s (key, fingerprint, card_uuid, shown_at)
       ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, card_uuid = excluded.card_uuid, shown_at = excluded.shown_at`,
      [cards.map((c) => c.key), cards.map((c) => c.fingerprint), cards.map((c) => c.cardUuid), cards.map((c) => c.shownAt)],
    );
  }

  async forgetShownBefore(before: string): Promise<number> {
    return (await this.pool.query('DELETE FROM shown_cards WHERE shown_at < $1', [before])).rowCount ?? 0;
  }

  async repeatKeySecret(): Promise<string> {
    this.secret ??= this.readOrMakeSecret().catch((error: unknown) => {
      this.secret = undefined;
      throw error;
    });
    return this.secret;
  }

  private async readOrMakeSecret(): Promise<string> {
    // The first replica to ask makes it; every other one reads the same.
    await this.pool.query("INSERT INTO settings (name, value) VALUES ('repeat-key', $1) ON CONFLICT (name) DO NOTHING", [randomBytes(32).toString('hex')]);
    return (await this.pool.query<{ value: string }>("SELECT value FROM settings WHERE name = 'repeat-key'")).rows[0]?.value ?? '';
  }

  async writable(): Promise<boolean> {
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      // A read-only standby, a revoked grant or a full disk fail here, as the audit would.
      await client.query('BEGIN');
      try {
        await client.query("INSERT INTO settings (name, value) VALUES ('readiness-probe', 'probe')");
      } finally {
        await client.query('ROLLBACK');
      }
      return true;
    } catch {
      return false;
    } finally {
      client?.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
