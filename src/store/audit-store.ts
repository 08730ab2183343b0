/**
 * What the service keeps about its own advice: the cards it issued and the feedback clinicians gave
 * on them — never patient identifiers, names or clinical values. An interface with two
 * implementations: SQLite embedded in the process (the default) and PostgreSQL shared by replicas
 * (CDS_DATABASE_URL). Every method is asynchronous, because a server database is.
 */

export interface IssuedCard {
  uuid: string;
  /** The card's topic: its main rule (or order-notes). */
  ruleId: string;
  indicator: string;
  /** Every rule the card carries, with its indicator: analytics count the card for each. */
  findings: Array<{ ruleId: string; indicator: string }>;
  serviceId: string;
  hookInstance: string;
  /** ISO 8601 UTC. */
  issuedAt: string;
  clientIss?: string;
  clientTenant?: string;
  /** The request that issued it: for the log line when its write fails; not stored. */
  requestId?: string;
}

export interface FeedbackRecord {
  card: string;
  serviceId: string;
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions: string[];
  overrideReason?: { system?: string; code: string; display?: string };
  /** Free text that may hold patient information: present only when CDS_STORE_COMMENTS=true. */
  userComment?: string;
  outcomeTimestamp: string;
  receivedAt: string;
  clientIss?: string;
  clientTenant?: string;
}

export interface StoredFeedback {
  stored: number;
  duplicates: number;
  /** Items about cards unknown to the caller (never issued, or issued to someone else): not stored. */
  unknownCards: number;
}

export interface RuleCounts {
  ruleId: string;
  issued: number;
  accepted: number;
  overridden: number;
  overrideReasons: Array<{ system?: string; code: string; display?: string; count: number }>;
}

/** A card as last shown for a repeat key (repeat suppression between order-select and order-sign). */
export interface ShownCard {
  key: string;
  fingerprint: string;
  cardUuid: string;
  /** ISO 8601 UTC. */
  shownAt: string;
}

/**
 * The memory behind repeat suppression, shared by replicas through the store. Keys and fingerprints
 * are hashes made by the caller; the store never sees who or what they stand for.
 */
export interface RepeatMemory {
  /** The cards last shown for these keys at `since` or later. */
  recallShown(keys: readonly string[], since: string): Promise<ShownCard[]>;
  /** Feedback stored on a card ends its repeat (recordFeedback forgets it): the next call shows it again. */
  rememberShown(cards: readonly ShownCard[]): Promise<void>;
  /** Drops what was shown before `before` (older than any repeat window); returns how many. */
  forgetShownBefore(before: string): Promise<number>;
  /** A random secret of this store, made on first use: the key of the repeat keys' hash. */
  repeatKeySecret(): Promise<string>;
}

export interface AuditStore extends RepeatMemory {
  /** Idempotent: a card recorded twice (a retried write) is counted once. */
  recordCards(cards: readonly IssuedCard[]): Promise<void>;
  /**
   * Stores new items and ignores exact repeats (idempotent). An item about a card this service did
   * not issue — or issued to another client, or through another service — is counted, not stored.
   */
  recordFeedback(items: readonly FeedbackRecord[]): Promise<StoredFeedback>;
  /** Per rule: cards issued on the UTC day of `since` or later, and the latest outcome of each. */
  ruleCounts(since: string): Promise<RuleCounts[]>;
  /** Deletes cards and feedback older than `before` (ISO); returns how many rows went. */
  purgeBefore(before: string): Promise<number>;
  /** Whether the store takes a write now (GET /readyz): a row written and rolled back. */
  writable(): Promise<boolean>;
  close(): Promise<void>;
}
