import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import type { ReplayGuard } from '../auth/replay-cache.js';
import type { AuditStore, FeedbackRecord, IssuedCard, RuleCounts, StoredFeedback } from './audit-store.js';

/**
 * The audit store in SQLite, through Node's built-in `node:sqlite` (synchronous, WAL): no native addon
 * to compile at install. Schema changes are numbered migrations tracked in PRAGMA user_version and run
 * at start-up, in order, once.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE cards (
     uuid TEXT PRIMARY KEY,
     rule_id TEXT NOT NULL,
     indicator TEXT NOT NULL,
     service_id TEXT NOT NULL,
     hook_instance TEXT NOT NULL,
     issued_at TEXT NOT NULL,
     client_iss TEXT,
     client_tenant TEXT
   );
   CREATE INDEX cards_issued_at ON cards (issued_at);
   CREATE TABLE feedback (
     id INTEGER PRIMARY KEY,
     item_key TEXT NOT NULL UNIQUE,
     card_uuid TEXT NOT NULL,
     known_card INTEGER NOT NULL,
     service_id TEXT NOT NULL,
     outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
     accepted_suggestions TEXT NOT NULL,
     override_system TEXT,
     override_code TEXT,
     override_display TEXT,
     user_comment TEXT,
     outcome_timestamp TEXT NOT NULL,
     received_at TEXT NOT NULL,
     client_iss TEXT
   );
   CREATE INDEX feedback_card ON feedback (card_uuid, outcome_timestamp);
   CREATE INDEX feedback_received_at ON feedback (received_at);`,
  // 2: a card can carry several rules' findings (merged cards); analytics count it for each.
  `CREATE TABLE card_findings (
     card_uuid TEXT NOT NULL REFERENCES cards (uuid) ON DELETE CASCADE,
     rule_id TEXT NOT NULL,
     indicator TEXT NOT NULL,
     PRIMARY KEY (card_uuid, rule_id)
   ) WITHOUT ROWID;
   CREATE INDEX card_findings_rule ON card_findings (rule_id);
   INSERT INTO card_findings (card_uuid, rule_id, indicator) SELECT uuid, rule_id, indicator FROM cards;`,
  // 3: JWT ids claimed, until their token expires: replay protection that survives a restart.
  `CREATE TABLE seen_jti (
     iss TEXT NOT NULL,
     jti TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (iss, jti)
   ) WITHOUT ROWID;
   CREATE INDEX seen_jti_expiry ON seen_jti (expires_at);`,
];

/** The identity of a feedback item: the same item posted twice has the same key. */
function itemKey(item: FeedbackRecord): string {
  const identity = [item.card, item.outcome, item.outcomeTimestamp, [...item.acceptedSuggestions].sort().join(','), item.overrideReason?.system ?? '', item.overrideReason?.code ?? ''];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

/** The statements of the hot paths, prepared once after migration (not once per call). */
interface Statements {
  claimJti: StatementSync;
  pruneJti: StatementSync;
  insertCard: StatementSync;
  insertFinding: StatementSync;
  knownCard: StatementSync;
  insertFeedback: StatementSync;
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
      knownCard: this.db.prepare('SELECT service_id AS serviceId, client_iss AS clientIss, client_tenant AS clientTenant FROM cards WHERE uuid = ?'),
      insertFeedback: this.db.prepare(
        `INSERT OR IGNORE INTO feedback (item_key, card_uuid, known_card, service_id, outcome, accepted_suggestions, override_system, override_code,
           override_display, user_comment, outcome_timestamp, received_at, client_iss)
         VALUES (@itemKey, @card, @knownCard, @serviceId, @outcome, @acceptedSuggestions, @overrideSystem, @overrideCode,
           @overrideDisplay, @userComment, @outcomeTimestamp, @receivedAt, @clientIss)`,
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

  firstUse(iss: string, jti: string, expiresAt: number, now: number): boolean {
    // Expired claims are pruned now and then, so the table holds at most an hour of tokens.
    if (++this.claimsSincePrune >= 1000) {
      this.claimsSincePrune = 0;
      this.statements.pruneJti.run(now);
    }
    return Number(this.statements.claimJti.run(iss, jti, expiresAt, now).changes) === 1;
  }

  recordCards(cards: readonly IssuedCard[]): void {
    const insert = this.statements.insertCard;
    inTransaction(this.db, () => {
      for (const card of cards) {
        insert.run({
          uuid: card.uuid,
          ruleId: card.ruleId,
          indicator: card.indicator,
          serviceId: card.serviceId,
          hookInstance: card.hookInstance,
          issuedAt: card.issuedAt,
          clientIss: card.clientIss ?? null,
          clientTenant: card.clientTenant ?? null,
        });
        for (const finding of card.findings) this.statements.insertFinding.run(card.uuid, finding.ruleId, finding.indicator);
      }
    });
  }

  recordFeedback(items: readonly FeedbackRecord[]): StoredFeedback {
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
        // Feedback is bound to its card: the same service, the same client (iss and tenant) it was issued to.
        const card = known.get(item.card) as { serviceId: string; clientIss: string | null; clientTenant: string | null } | undefined;
        const yours = card !== undefined && card.serviceId === item.serviceId && card.clientIss === (item.clientIss ?? null) && card.clientTenant === (item.clientTenant ?? null);
        if (!yours) {
          result.unknownCards += 1;
          continue;
        }
        const info = insert.run({
          itemKey: itemKey(item),
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
        if (Number(info.changes) === 0) result.duplicates += 1;
        else result.stored += 1;
      }
      return result;
    });
  }

  ruleCounts(since: string): RuleCounts[] {
    // The latest outcome of each card decides whether it counts as accepted or overridden: latest as
    // received by the service (a client's outcomeTimestamp cannot make its answer win forever).
    const latest = `SELECT f.* FROM feedback f
      WHERE f.id = (SELECT g.id FROM feedback g WHERE g.card_uuid = f.card_uuid ORDER BY g.received_at DESC, g.id DESC LIMIT 1)`;
    const rows = this.db
      .prepare(
        `SELECT f.rule_id AS ruleId, COUNT(*) AS issued,
           SUM(CASE WHEN l.outcome = 'accepted' THEN 1 ELSE 0 END) AS accepted,
           SUM(CASE WHEN l.outcome = 'overridden' THEN 1 ELSE 0 END) AS overridden
         FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid LEFT JOIN (${latest}) l ON l.card_uuid = c.uuid
         WHERE c.issued_at >= ? GROUP BY f.rule_id`,
      )
      .all(since) as Array<{ ruleId: string; issued: number; accepted: number | null; overridden: number | null }>;
    const reasons = this.db
      .prepare(
        `SELECT f.rule_id AS ruleId, l.override_system AS system, l.override_code AS code, MAX(l.override_display) AS display, COUNT(*) AS count
         FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid JOIN (${latest}) l ON l.card_uuid = c.uuid
         WHERE c.issued_at >= ? AND l.outcome = 'overridden' AND l.override_code IS NOT NULL
         GROUP BY f.rule_id, l.override_system, l.override_code ORDER BY count DESC, code`,
      )
      .all(since) as Array<{ ruleId: string; system: string | null; code: string; display: string | null; count: number }>;
    return rows.map((row) => ({
      ruleId: row.ruleId,
      issued: row.issued,
      accepted: row.accepted ?? 0,
      overridden: row.overridden ?? 0,
      overrideReasons: reasons
        .filter((r) => r.ruleId === row.ruleId)
        .map((r) => ({ ...(r.system ? { system: r.system } : {}), code: r.code, ...(r.display ? { display: r.display } : {}), count: r.count })),
    }));
  }

  purgeBefore(before: string): number {
    return inTransaction(this.db, () => {
      const feedback = Number(this.db.prepare('DELETE FROM feedback WHERE received_at < ?').run(before).changes);
      this.db.prepare('DELETE FROM card_findings WHERE card_uuid IN (SELECT uuid FROM cards WHERE issued_at < ?)').run(before);
      const cards = Number(this.db.prepare('DELETE FROM cards WHERE issued_at < ?').run(before).changes);
      return feedback + cards;
    });
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
