export interface BatchWriterOptions<T> {
  /** Most items waiting; beyond it the oldest are dropped (and reported), so memory stays bounded. */
  maxQueued: number;
  /** Most items written at once; a batch this full is written at once. */
  batchSize: number;
  /** Longest a queued item waits before its batch is written. */
  flushAfterMs: number;
  /** Wait before writing again after the store failed. */
  retryMs: number;
  /** Told when a write fails (the items stay queued): the error, how many are queued, the failed batch. */
  onWriteFailed: (error: unknown, queued: number, batch: readonly T[]) => void;
  /** Told which items were dropped because the queue was full. */
  onDropped: (dropped: readonly T[]) => void;
}

/**
 * Items written off the request path: they join a queue, written in one call of `write` (one
 * transaction) per `flushAfterMs` or per `batchSize` items, whichever comes first, with those of the
 * calls answered meanwhile. While the store is down they wait, up to `maxQueued`, and are written once
 * it answers again; close() writes what is queued.
 */
export class BatchWriter<T> {
  /** Items waiting to be written, oldest first; the batch being written is not among them. */
  private queued: T[] = [];
  /** How many items the write under way holds. */
  private inFlight = 0;
  private writing: Promise<void> | undefined;
  /** The write of a full batch, due after this turn of the event loop. */
  private immediate: NodeJS.Immediate | undefined;
  /** The write of a partial batch, due flushAfterMs after its first item. */
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (batch: readonly T[]) => Promise<void>,
    private readonly options: BatchWriterOptions<T>,
  ) {}

  /** Items not yet written: waiting, and in the write under way. */
  get depth(): number {
    return this.queued.length + this.inFlight;
  }

  /** Whether the last write failed and a retry is pending. */
  get failing(): boolean {
    return this.retry !== undefined;
  }

  add(items: readonly T[]): void {
    if (items.length === 0) return;
    this.queued.push(...items);
    this.dropOverflow();
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
      // A queued item does not keep a stopping process alive by itself: close() writes it.
      this.timer.unref();
    }
  }

  /** Beyond maxQueued waiting items the oldest are dropped (a batch being written is not waiting). */
  private dropOverflow(): void {
    const over = this.queued.length - this.options.maxQueued;
    if (over > 0) this.options.onDropped(this.queued.splice(0, over));
  }

  private cancelScheduled(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
  }

  /** Writes everything queued now; resolves when the queue is empty or the store failed (the items then stay queued and a retry is scheduled). */
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
      // Taken off the queue while it is written: items added meanwhile, and drops when the queue
      // is full, then concern only what still waits.
      const batch = this.queued.splice(0, this.options.batchSize);
      this.inFlight = batch.length;
      try {
        await this.write(batch);
      } catch (error) {
        // Back at the head, oldest first, for the retry.
        this.queued.unshift(...batch);
        this.dropOverflow();
        this.options.onWriteFailed(error, this.queued.length, batch);
        this.scheduleRetry();
        return;
      } finally {
        this.inFlight = 0;
      }
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
