/* eslint-disable @typescript-eslint/require-await -- node:sqlite is synchronous; the store interfaces are asynchronous for PostgreSQL */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import type { ReplayGuard } from './replay-guard.js';
import { randomBytes } from 'node:crypto';
import type { AuditStore, FeedbackRecord, IssuedCard, RuleCounts, ShownCard, StoredFeedback } from './audit-store.js';
import { dayOf, feedbackBelongsTo, feedbackItemKey, isLatestAnswer } from './audit-rules.js';
import type { KnownCard } from './audit-rules.js';
import { MIGRATIONS } from './sqlite-migrations.js';

/*
 * The audit store in SQLite, through Node's built-in `node:sqlite` (synchronous, WAL): no native addon
 * to compile at install. Its schema is in sqlite-migrations.ts.
 */

/** The statements of the hot paths, prepared once after migration (not once per call). */
interface Statements {
  claimJti: StatementSync;
  pruneJti: StatementSync;
  insertCard: StatementSync;
  insertFinding: StatementSync;
  knownCard: StatementSync;
  insertFeedback: StatementSync;
  cardRules: StatementSync;
  setLatest: StatementSync;
  countIssued: StatementSync;
  countOutcome: Record<'accepted' | 'overridden', StatementSync>;
  countReason: StatementSync;
  recallShown: StatementSync;
  rememberShown: StatementSync;
}

/** Runs `work` in one transaction: committed if it returns, rolled back if it throws. */
function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

export class SqliteAuditStore implements AuditStore, ReplayGuard {
  private readonly db: DatabaseSync;
  private readonly statements: Statements;
  private claimsSincePrune = 0;
  /** The repeat-key secret, once read: it never changes after it is made. */
  private secret?: string;

  /** Opens (creating the file and folder on first start) and migrates. `:memory:` for tests. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path, { timeout: 5000 });
    this.db.exec('PRAGMA journal_mode = WAL');
    // NORMAL in WAL mode: every commit survives a crash of the process (not of the machine) without an
    // fsync per hook call — right for the card audit. Feedback raises it to FULL (see recordFeedback).
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.migrate();
    this.statements = {
      insertCard: this.db.prepare(
        `INSERT OR IGNORE INTO cards (uuid, rule_id, indicator, service_id, hook_instance, issued_at, client_iss, client_tenant)
         VALUES (@uuid, @ruleId, @indicator, @serviceId, @hookInstance, @issuedAt, @clientIss, @clientTenant)`,
      ),
      // One insert claims the id; an expired claim of the same id may be taken again.
      claimJti: this.db.prepare(
        `INSERT INTO seen_jti (iss, jti, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_jti.expires_at <= ?`,
      ),
      pruneJti: this.db.prepare('DELETE FROM seen_jti WHERE expires_at <= ?'),
      insertFinding: this.db.prepare('INSERT OR IGNORE INTO card_findings (card_uuid, rule_id, indicator) VALUES (?, ?, ?)'),
      knownCard: this.db.prepare(
        `SELECT service_id AS serviceId, client_iss AS clientIss, client_tenant AS clientTenant, issued_at AS issuedAt,
           latest_outcome AS latestOutcome, latest_override_system AS latestOverrideSystem, latest_override_code AS latestOverrideCode,
           latest_received_at AS latestReceivedAt
         FROM cards WHERE uuid = ?`,
      ),
      cardRules: this.db.prepare('SELECT rule_id AS ruleId FROM card_findings WHERE card_uuid = ?'),
      setLatest: this.db.prepare(
        'UPDATE cards SET latest_outcome = ?, latest_override_system = ?, latest_override_code = ?, latest_received_at = ? WHERE uuid = ?',
      ),
      countIssued: this.db.prepare(
        'INSERT INTO rule_day_counts (day, rule_id, issued) VALUES (?, ?, 1) ON CONFLICT (day, rule_id) DO UPDATE SET issued = issued + 1',
      ),
      // The counter row exists: the card was counted as issued on its day.
      countOutcome: {
        accepted: this.db.prepare('UPDATE rule_day_counts SET accepted = accepted + ? WHERE day = ? AND rule_id = ?'),
        overridden: this.db.prepare('UPDATE rule_day_counts SET overridden = overridden + ? WHERE day = ? AND rule_id = ?'),
      },
      countReason: this.db.prepare(
        `INSERT INTO rule_day_reasons (day, rule_id, system, code, display, count) VALUES (@day, @ruleId, @system, @code, @display, @delta)
         ON CONFLICT (day, rule_id, system, code) DO UPDATE SET count = count + excluded.count, display = COALESCE(excluded.display, display)`,
      ),
      insertFeedback: this.db.prepare(
        `INSERT OR IGNORE INTO feedback (item_key, card_uuid, known_card, service_id, outcome, accepted_suggestions, override_system, override_code,
           override_display, user_comment, outcome_timestamp, received_at, client_iss)
         VALUES (@itemKey, @card, @knownCard, @serviceId, @outcome, @acceptedSuggestions, @overrideSystem, @overrideCode,
           @overrideDisplay, @userComment, @outcomeTimestamp, @receivedAt, @clientIss)`,
      ),
      // The keys as one JSON array: one statement for any number of cards (prepared once, not per call).
      recallShown: this.db.prepare(
        `SELECT key, fingerprint, card_uuid AS cardUuid, shown_at AS shownAt FROM shown_cards
         WHERE shown_at >= ? AND key IN (SELECT value FROM json_each(?))`,
      ),
      rememberShown: this.db.prepare(
        `INSERT INTO shown_cards (key, fingerprint, card_uuid, shown_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, card_uuid = excluded.card_uuid, shown_at = excluded.shown_at`,
      ),
    };
  }

  get schemaVersion(): number {
    return (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  }

  /**
   * Runs the missing migrations in one write transaction, reading the version inside it: processes
   * starting together on one file (replicas, a rolling restart) take turns, and the second finds the
   * schema already current instead of creating its tables twice.
   */
  private migrate(): void {
    if (this.schemaVersion >= MIGRATIONS.length) return;
    inTransaction(this.db, () => {
      const current = this.schemaVersion;
      MIGRATIONS.slice(current).forEach((sql, i) => {
        this.db.exec(sql);
        this.db.exec(`PRAGMA user_version = ${current + i + 1}`);
      });
    });
  }

  async firstUse(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    // Expired claims are pruned now and then, so the table holds at most an hour of tokens.
    if (++this.claimsSincePrune >= 1000) {
      this.claimsSincePrune = 0;
      this.statements.pruneJti.run(now);
    }
    return Number(this.statements.claimJti.run(iss, jti, expiresAt, now).changes) === 1;
  }

  async recordCards(cards: readonly IssuedCard[]): Promise<void> {
    const insert = this.statements.insertCard;
    inTransaction(this.db, () => {
      for (const card of cards) {
        const inserted = insert.run({
          uuid: card.uuid,
          ruleId: card.ruleId,
          indicator: card.indicator,
          serviceId: card.serviceId,
          hookInstance: card.hookInstance,
          issuedAt: card.issuedAt,
          clientIss: card.clientIss ?? null,
          clientTenant: card.clientTenant ?? null,
        });
        if (Number(inserted.changes) === 0) continue; // already recorded (a retried write): counted once
        for (const finding of card.findings) {
          if (Number(this.statements.insertFinding.run(card.uuid, finding.ruleId, finding.indicator).changes) === 1) {
            this.statements.countIssued.run(dayOf(card.issuedAt), finding.ruleId);
          }
        }
      }
    });
  }

  async recordFeedback(items: readonly FeedbackRecord[]): Promise<StoredFeedback> {
    const known = this.statements.knownCard;
    const insert = this.statements.insertFeedback;
    // FULL for feedback: an item acknowledged with 200 survives a crash of the machine too.
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      return this.insertFeedback(items, known, insert);
    } finally {
      this.db.exec('PRAGMA synchronous = NORMAL');
    }
  }

  private insertFeedback(items: readonly FeedbackRecord[], known: StatementSync, insert: StatementSync): StoredFeedback {
    return inTransaction(this.db, () => {
      const result = { stored: 0, duplicates: 0, unknownCards: 0 };
      for (const item of items) {
        const card = known.get(item.card) as KnownCard | undefined;
        if (!feedbackBelongsTo(card, item)) {
          result.unknownCards += 1;
          continue;
        }
        const info = insert.run({
          itemKey: feedbackItemKey(item),
          card: item.card,
          knownCard: 1,
          serviceId: item.serviceId,
          outcome: item.outcome,
          acceptedSuggestions: JSON.stringify(item.acceptedSuggestions),
          overrideSystem: item.overrideReason?.system ?? null,
          overrideCode: item.overrideReason?.code ?? null,
          overrideDisplay: item.overrideReason?.display ?? null,
          userComment: item.userComment ?? null,
          outcomeTimestamp: item.outcomeTimestamp,
          receivedAt: item.receivedAt,
          clientIss: item.clientIss ?? null,
        });
        if (Number(info.changes) === 0) {
          result.duplicates += 1;
          continue;
        }
        result.stored += 1;
        this.countLatestOutcome(item, card);
        // Feedback ends the card's repeat (issue 16): the next call shows it again.
        this.db.prepare('DELETE FROM shown_cards WHERE card_uuid = ?').run(item.card);
      }
      return result;
    });
  }

  /**
   * A card counts by its latest outcome, latest as received by the service (a client's
   * outcomeTimestamp cannot make its answer win forever): a new latest answer moves the card, for
   * each rule it carries, out of its old count and reason and into the new ones.
   */
  private countLatestOutcome(item: FeedbackRecord, card: KnownCard): void {
    if (!isLatestAnswer(item.receivedAt, card.latestReceivedAt)) return; // an older answer, arriving late
    const reason = item.outcome === 'overridden' ? item.overrideReason : undefined;
    this.statements.setLatest.run(item.outcome, reason?.system ?? null, reason?.code ?? null, item.receivedAt, item.card);
    const day = dayOf(card.issuedAt);
    for (const { ruleId } of this.statements.cardRules.all(item.card) as Array<{ ruleId: string }>) {
      if (card.latestOutcome !== null) this.statements.countOutcome[card.latestOutcome].run(-1, day, ruleId);
      if (card.latestOutcome === 'overridden' && card.latestOverrideCode !== null) {
        this.statements.countReason.run({ day, ruleId, system: card.latestOverrideSystem ?? '', code: card.latestOverrideCode, display: null, delta: -1 });
      }
      this.statements.countOutcome[item.outcome].run(1, day, ruleId);
      if (reason) this.statements.countReason.run({ day, ruleId, system: reason.system ?? '', code: reason.code, display: reason.display ?? null, delta: 1 });
    }
  }

  async ruleCounts(since: string): Promise<RuleCounts[]> {
    // From the day counters: a few rows per rule and day, however many cards there were.
    const sinceDay = dayOf(since);
    const rows = this.db
      .prepare(
        `SELECT rule_id AS ruleId, SUM(issued) AS issued, SUM(accepted) AS accepted, SUM(overridden) AS overridden
         FROM rule_day_counts WHERE day >= ? GROUP BY rule_id HAVING SUM(issued) > 0 ORDER BY rule_id`,
      )
      .all(sinceDay) as Array<{ ruleId: string; issued: number; accepted: number; overridden: number }>;
    const reasons = this.db
      .prepare(
        `SELECT rule_id AS ruleId, system, code, MAX(display) AS display, SUM(count) AS count
         FROM rule_day_reasons WHERE day >= ? GROUP BY rule_id, system, code HAVING SUM(count) > 0 ORDER BY count DESC, code`,
      )
      .all(sinceDay) as Array<{ ruleId: string; system: string; code: string; display: string | null; count: number }>;
    return rows.map((row) => ({
      ruleId: row.ruleId,
      issued: row.issued,
      accepted: row.accepted,
      overridden: row.overridden,
      overrideReasons: reasons
        .filter((r) => r.ruleId === row.ruleId)
        .map((r) => ({ ...(r.system ? { system: r.system } : {}), code: r.code, ...(r.display ? { display: r.display } : {}), count: r.count })),
    }));
  }

  async purgeBefore(before: string): Promise<number> {
    return inTransaction(this.db, () => {
      const feedback = Number(this.db.prepare('DELETE FROM feedback WHERE received_at < ?').run(before).changes);
      this.db.prepare('DELETE FROM card_findings WHERE card_uuid IN (SELECT uuid FROM cards WHERE issued_at < ?)').run(before);
      const cards = Number(this.db.prepare('DELETE FROM cards WHERE issued_at < ?').run(before).changes);
      // Counters go by whole days: a day's counts stay until the whole day is older than `before`.
      this.db.prepare('DELETE FROM rule_day_counts WHERE day < ?').run(dayOf(before));
      this.db.prepare('DELETE FROM rule_day_reasons WHERE day < ?').run(dayOf(before));
      return feedback + cards;
    });
  }

  async recallShown(keys: readonly string[], since: string): Promise<ShownCard[]> {
    if (keys.length === 0) return [];
    return this.statements.recallShown.all(since, JSON.stringify(keys)) as unknown as ShownCard[];
  }

  async rememberShown(cards: readonly ShownCard[]): Promise<void> {
    const upsert = this.statements.rememberShown;
    inTransaction(this.db, () => {
      for (const c of cards) upsert.run(c.key, c.fingerprint, c.cardUuid, c.shownAt);
    });
  }

  async forgetShownBefore(before: string): Promise<number> {
    return Number(this.db.prepare('DELETE FROM shown_cards WHERE shown_at < ?').run(before).changes);
  }

  async repeatKeySecret(): Promise<string> {
    // Made once, in one transaction, so that processes sharing the file agree on it; then kept (a
    // write transaction per hook call only to read it back was a twentieth of the service's CPU).
    this.secret ??= inTransaction(this.db, () => {
      this.db.prepare("INSERT OR IGNORE INTO settings (name, value) VALUES ('repeat-key', ?)").run(randomBytes(32).toString('hex'));
      return (this.db.prepare("SELECT value FROM settings WHERE name = 'repeat-key'").get() as { value: string }).value;
    });
    return this.secret;
  }

  async writable(): Promise<boolean> {
    if (!this.db.isOpen) return false;
    // A read-only file system, a locked-out file or a full disk fail here, as the audit would.
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.db.prepare("INSERT INTO settings (name, value) VALUES ('readiness-probe', randomblob(4096))").run();
      } finally {
        this.db.exec('ROLLBACK');
      }
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
