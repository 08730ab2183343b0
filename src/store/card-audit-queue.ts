import type { AuditStore, IssuedCard, RepeatMemory, ShownCard } from './audit-store.js';
import { BatchWriter } from './batch-writer.js';

export interface CardAuditQueueOptions {
  /** Most rows waiting, in each of the two queues; beyond it the oldest are dropped (and counted), so memory stays bounded. */
  maxQueued: number;
  /** Most cards written in one transaction; a batch this full is written at once. */
  batchSize: number;
  /** Longest a queued card waits before its batch is written. */
  flushAfterMs: number;
  /** Wait before writing again after the store failed. */
  retryMs: number;
  /**
   * Told when a write fails (the rows stay queued: how many, and the requests of the failed batch)
   * and when rows had to be dropped — issued cards, or what repeat suppression remembers as shown.
   */
  onWriteFailed: (error: unknown, queued: number, requestIds: string[], rows: QueuedRows) => void;
  onDropped: (dropped: number, rows: QueuedRows) => void;
}

/** The two kinds of row the queue writes. */
type QueuedRows = 'cards' | 'shown cards';

export const DEFAULT_CARD_AUDIT_QUEUE: Omit<CardAuditQueueOptions, 'onWriteFailed' | 'onDropped'> = {
  maxQueued: 50_000,
  batchSize: 100,
  flushAfterMs: 50,
  retryMs: 1000,
};

/**
 * The card audit, written off the request path: a hook call's cards join a queue, written in one
 * transaction per `flushAfterMs` (50 ms) or per `batchSize` (100) cards, whichever comes first, with
 * those of the calls answered meanwhile. While the store is down they wait, up to `maxQueued`, and
 * are written once it answers again; on shutdown what is queued is written before the database
 * closes. Cards are safety information: a hook call never waits on its audit, and never fails
 * because of it.
 *
 * What repeat suppression remembers as shown goes the same way (`repeatMemory`): this replica
 * reads its own unwritten entries at once; other replicas see them once written, within 50 ms.
 */
export class CardAuditQueue {
  private readonly cards: BatchWriter<IssuedCard>;
  private readonly shown: BatchWriter<ShownCard>;
  /** The newest unwritten shown entry per key, read with the store's own (not yet written there). */
  private readonly unwritten = new Map<string, ShownCard>();
  /** The store's repeat memory, with what this replica showed and has not written yet. */
  readonly repeatMemory: RepeatMemory;

  constructor(store: AuditStore, options: CardAuditQueueOptions) {
    const common = { maxQueued: options.maxQueued, batchSize: options.batchSize, flushAfterMs: options.flushAfterMs, retryMs: options.retryMs };
    this.cards = new BatchWriter((batch) => store.recordCards(batch), {
      ...common,
      // At most ten ids: enough to find the calls in the request log, bounded however large the batch.
      onWriteFailed: (error, queued, batch) => {
        options.onWriteFailed(error, queued, [...new Set(batch.flatMap((card) => (card.requestId ? [card.requestId] : [])))].slice(0, 10), 'cards');
      },
      onDropped: (dropped) => {
        options.onDropped(dropped.length, 'cards');
      },
    });
    this.shown = new BatchWriter(
      async (batch) => {
        // One row per key, the newest (two calls within a batch show the same card; PostgreSQL's
        // upsert keeps one row per key of its input, whichever it meets).
        await store.rememberShown([...new Map(batch.map((entry) => [entry.key, entry])).values()]);
        for (const entry of batch) if (this.unwritten.get(entry.key) === entry) this.unwritten.delete(entry.key);
      },
      {
        ...common,
        onWriteFailed: (error, queued) => {
          options.onWriteFailed(error, queued, [], 'shown cards');
        },
        onDropped: (dropped) => {
          for (const entry of dropped) if (this.unwritten.get(entry.key) === entry) this.unwritten.delete(entry.key);
          options.onDropped(dropped.length, 'shown cards');
        },
      },
    );
    this.repeatMemory = {
      recallShown: async (keys, since) => {
        const stored = await store.recallShown(keys, since);
        if (this.unwritten.size === 0) return stored;
        const byKey = new Map(stored.map((s) => [s.key, s]));
        for (const key of keys) {
          const mine = this.unwritten.get(key);
          const theirs = byKey.get(key);
          if (mine && mine.shownAt >= since && (!theirs || mine.shownAt >= theirs.shownAt)) byKey.set(key, mine);
        }
        return [...byKey.values()];
      },
      rememberShown: (entries) => {
        for (const entry of entries) this.unwritten.set(entry.key, entry);
        this.shown.add(entries);
        return Promise.resolve();
      },
      forgetShownBefore: (before) => store.forgetShownBefore(before),
      repeatKeySecret: () => store.repeatKeySecret(),
    };
  }

  /** Rows waiting to be written, cards and shown entries (the glutamine_cds_audit_queue_depth metric). */
  get depth(): number {
    return this.cards.depth + this.shown.depth;
  }

  /** Whether the last write failed and a retry is pending (GET /readyz is then 503). */
  get failing(): boolean {
    return this.cards.failing || this.shown.failing;
  }

  add(cards: readonly IssuedCard[]): void {
    this.cards.add(cards);
  }

  /**
   * Writes everything queued now; resolves when the queues are empty or the store failed (the cards
   * then stay queued and a retry is scheduled). Feedback and analytics call it first, so that they
   * see this replica's own cards — and feedback, which ends a card's repeat, finds it remembered.
   */
  async flush(): Promise<void> {
    await Promise.all([this.cards.flush(), this.shown.flush()]);
  }

  /** For shutdown: one last attempt to write what is queued. */
  async close(): Promise<void> {
    await Promise.all([this.cards.close(), this.shown.close()]);
  }
}
