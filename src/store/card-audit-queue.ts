import type { AuditStore, IssuedCard } from './audit-store.js';

export interface CardAuditQueueOptions {
  /** Most cards waiting; beyond it the oldest are dropped (and counted), so memory stays bounded. */
  maxQueued: number;
  /** Most cards written in one transaction; a batch this full is written at once. */
  batchSize: number;
  /** Longest a queued card waits before its batch is written. */
  flushAfterMs: number;
  /** Wait before writing again after the store failed. */
  retryMs: number;
  /** Told when a write fails (the cards stay queued: how many, and the requests of the failed batch) and when cards had to be dropped. */
  onWriteFailed: (error: unknown, queued: number, requestIds: string[]) => void;
  onDropped: (dropped: number) => void;
}

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
 */
export class CardAuditQueue {
  private queued: IssuedCard[] = [];
  private writing: Promise<void> | undefined;
  /** The write of a full batch, due after this turn of the event loop. */
  private immediate: NodeJS.Immediate | undefined;
  /** The write of a partial batch, due flushAfterMs after its first card. */
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly options: CardAuditQueueOptions,
  ) {}

  /** Cards waiting to be written (the glutamine_cds_audit_queue_depth metric). */
  get depth(): number {
    return this.queued.length;
  }

  /** Whether the last write failed and a retry is pending (GET /readyz is then 503). */
  get failing(): boolean {
    return this.retry !== undefined;
  }

  add(cards: readonly IssuedCard[]): void {
    if (cards.length === 0) return;
    this.queued.push(...cards);
    const over = this.queued.length - this.options.maxQueued;
    if (over > 0) {
      this.queued.splice(0, over);
      this.options.onDropped(over);
    }
    if (this.retry !== undefined) return;
    if (this.immediate !== undefined) return;
    if (this.queued.length >= this.options.batchSize) {
      // A full batch: written after this turn of the event loop (the response goes out first).
      this.cancelScheduled();
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        void this.flush();
      });
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.options.flushAfterMs);
      // A queued card does not keep a stopping process alive by itself: close() writes it.
      this.timer.unref();
    }
  }

  private cancelScheduled(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
  }

  /**
   * Writes everything queued now; resolves when the queue is empty or the store failed (the cards
   * then stay queued and a retry is scheduled). Feedback and analytics call it first, so that they
   * see this replica's own cards.
   */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.queued.length === 0) return;
    this.writing = this.writeAll();
    try {
      await this.writing;
    } finally {
      this.writing = undefined;
    }
  }

  private async writeAll(): Promise<void> {
    while (this.queued.length > 0) {
      const batch = this.queued.slice(0, this.options.batchSize);
      try {
        await this.store.recordCards(batch);
      } catch (error) {
        // At most ten ids: enough to find the calls in the request log, bounded however large the batch.
        const requestIds = [...new Set(batch.flatMap((card) => (card.requestId ? [card.requestId] : [])))].slice(0, 10);
        this.options.onWriteFailed(error, this.queued.length, requestIds);
        this.scheduleRetry();
        return;
      }
      this.queued.splice(0, batch.length);
    }
  }

  private scheduleRetry(): void {
    if (this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.flush();
    }, this.options.retryMs);
    this.retry.unref();
  }

  /** For shutdown: one last attempt to write what is queued. */
  async close(): Promise<void> {
    this.cancelScheduled();
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    await this.flush();
  }
}
