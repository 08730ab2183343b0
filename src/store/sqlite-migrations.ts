/**
 * The audit store's schema, as numbered migrations: tracked in PRAGMA user_version and run at start-up,
 * in order, once. Append; never edit one that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
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
  // 4: analytics from counters kept up to date as cards and feedback arrive, per UTC day of issue, so
  // that reading them costs the same with a hundred cards or a million (issue 13). Each card keeps its
  // latest outcome, so that a later answer can move the card from one count to another.
  `ALTER TABLE cards ADD COLUMN latest_outcome TEXT;
   ALTER TABLE cards ADD COLUMN latest_override_system TEXT;
   ALTER TABLE cards ADD COLUMN latest_override_code TEXT;
   ALTER TABLE cards ADD COLUMN latest_received_at TEXT;
   CREATE TABLE rule_day_counts (
     day TEXT NOT NULL,
     rule_id TEXT NOT NULL,
     issued INTEGER NOT NULL DEFAULT 0,
     accepted INTEGER NOT NULL DEFAULT 0,
     overridden INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (day, rule_id)
   ) WITHOUT ROWID;
   CREATE TABLE rule_day_reasons (
     day TEXT NOT NULL,
     rule_id TEXT NOT NULL,
     system TEXT NOT NULL,
     code TEXT NOT NULL,
     display TEXT,
     count INTEGER NOT NULL,
     PRIMARY KEY (day, rule_id, system, code)
   ) WITHOUT ROWID;
   UPDATE cards SET (latest_outcome, latest_override_system, latest_override_code, latest_received_at) =
     (SELECT g.outcome, g.override_system, g.override_code, g.received_at FROM feedback g
      WHERE g.card_uuid = cards.uuid ORDER BY g.received_at DESC, g.id DESC LIMIT 1);
   INSERT INTO rule_day_counts (day, rule_id, issued, accepted, overridden)
     SELECT substr(c.issued_at, 1, 10), f.rule_id, COUNT(*), SUM(CASE WHEN c.latest_outcome = 'accepted' THEN 1 ELSE 0 END),
       SUM(CASE WHEN c.latest_outcome = 'overridden' THEN 1 ELSE 0 END)
     FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid GROUP BY 1, 2;
   INSERT INTO rule_day_reasons (day, rule_id, system, code, display, count)
     SELECT substr(c.issued_at, 1, 10), f.rule_id, COALESCE(c.latest_override_system, ''), c.latest_override_code,
       (SELECT MAX(g.override_display) FROM feedback g WHERE g.override_code = c.latest_override_code), COUNT(*)
     FROM card_findings f JOIN cards c ON c.uuid = f.card_uuid
     WHERE c.latest_outcome = 'overridden' AND c.latest_override_code IS NOT NULL GROUP BY 1, 2, 3, 4;`,
  // 5: repeat suppression (issue 16): the cards last shown for a key — a keyed hash of user, patient,
  // encounter, rule and order, never the identifiers themselves — with a fingerprint of their evidence.
  `CREATE TABLE shown_cards (
     key TEXT PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     card_uuid TEXT NOT NULL,
     shown_at TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX shown_cards_card ON shown_cards (card_uuid);
   CREATE INDEX shown_cards_shown_at ON shown_cards (shown_at);
   CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
];
