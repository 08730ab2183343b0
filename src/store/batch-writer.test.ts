import { describe, expect, it } from 'vitest';
import { BatchWriter } from './batch-writer.js';

/** A write that waits until released, recording what it was given. */
function heldWrites(): { write: (batch: readonly string[]) => Promise<void>; written: string[][]; release: () => void } {
  const written: string[][] = [];
  let releases: Array<() => void> = [];
  return {
    write: (batch) =>
      new Promise<void>((resolve) => {
        releases.push(() => {
          written.push([...batch]);
          resolve();
        });
      }),
    written,
    release: () => {
      const pending = releases;
      releases = [];
      for (const r of pending) r();
    },
  };
}

describe('BatchWriter', () => {
  it('a full queue drops its oldest waiting items, never the batch being written, and loses nothing else', async () => {
    const held = heldWrites();
    const dropped: string[] = [];
    const writer = new BatchWriter(held.write, {
      maxQueued: 3,
      batchSize: 2,
      flushAfterMs: 50,
      retryMs: 1000,
      onWriteFailed: () => undefined,
      onDropped: (items) => dropped.push(...items),
    });
    writer.add(['a', 'b']);
    const flushing = writer.flush(); // a and b are being written
    writer.add(['c', 'd', 'e', 'f']); // four more than fit while a and b are in flight
    expect(dropped).toEqual(['c']);
    expect(writer.depth).toBe(5);
    held.release();
    await new Promise((resolve) => setImmediate(resolve));
    held.release();
    await new Promise((resolve) => setImmediate(resolve));
    held.release();
    await flushing;
    expect(held.written).toEqual([['a', 'b'], ['d', 'e'], ['f']]);
    expect(writer.depth).toBe(0);
  });

  it('keeps a failed batch, oldest first, and writes it when the store answers again', async () => {
    let fail = true;
    const written: string[][] = [];
    const failures: number[] = [];
    const writer = new BatchWriter(
      (batch: readonly string[]) => {
        if (fail) return Promise.reject(new Error('down'));
        written.push([...batch]);
        return Promise.resolve();
      },
      { maxQueued: 10, batchSize: 2, flushAfterMs: 50, retryMs: 1000, onWriteFailed: (_e, queued) => failures.push(queued), onDropped: () => undefined },
    );
    writer.add(['a', 'b', 'c']);
    await writer.flush();
    expect(failures).toEqual([3]);
    expect(writer.failing).toBe(true);
    fail = false;
    await writer.close();
    expect(written).toEqual([['a', 'b'], ['c']]);
    expect(writer.depth).toBe(0);
  });
});
