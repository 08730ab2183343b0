import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuditStore, IssuedCard, ShownCard } from './audit-store.js';
import { CardAuditQueue, DEFAULT_CARD_AUDIT_QUEUE } from './card-audit-queue.js';

/** A store that records each transaction (each recordCards call) and its size. */
function recordingStore(): { store: AuditStore; batches: number[] } {
  const batches: number[] = [];
  const store = {
    recordCards: (cards: readonly IssuedCard[]) => {
      batches.push(cards.length);
      return Promise.resolve();
    },
  } as unknown as AuditStore;
  return { store, batches };
}

const card = (i: number): IssuedCard => ({
  uuid: `card-${String(i)}`,
  ruleId: 'liver-disease',
  indicator: 'critical',
  findings: [{ ruleId: 'liver-disease', indicator: 'critical' }],
  serviceId: 'glutamine-order-sign',
  hookInstance: 'h',
  issuedAt: '2026-11-26T12:00:00.000Z',
});
const cards = (from: number, count: number): IssuedCard[] => Array.from({ length: count }, (_, i) => card(from + i));

const queue = (store: AuditStore) => new CardAuditQueue(store, { ...DEFAULT_CARD_AUDIT_QUEUE, onWriteFailed: () => undefined, onDropped: () => undefined });

afterEach(() => {
  vi.useRealTimers();
});

describe('CardAuditQueue batching', () => {
  it('writes the cards of many calls in one transaction, at most 50 ms after the first', async () => {
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const audit = queue(store);
    for (let i = 0; i < 30; i++) audit.add(cards(i * 2, 2));
    await vi.advanceTimersByTimeAsync(49);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([60]);
    expect(audit.depth).toBe(0);
  });

  it('writes a full batch of 100 at once, in transactions of at most 100', async () => {
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const audit = queue(store);
    audit.add(cards(0, 40));
    audit.add(cards(40, 210));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([100, 100, 50]);
  });

  it('writes what is queued on close, without waiting for the timer', async () => {
    const { store, batches } = recordingStore();
    const audit = queue(store);
    audit.add(cards(0, 7));
    await audit.close();
    expect(batches).toEqual([7]);
  });
});

/** A store's repeat memory in a Map, recording each write (each rememberShown call). */
function memoryStore(): { store: AuditStore; rows: Map<string, ShownCard>; writes: ShownCard[][] } {
  const rows = new Map<string, ShownCard>();
  const writes: ShownCard[][] = [];
  const store = {
    recordCards: () => Promise.resolve(),
    rememberShown: (entries: readonly ShownCard[]) => {
      writes.push([...entries]);
      for (const entry of entries) rows.set(entry.key, entry);
      return Promise.resolve();
    },
    recallShown: (keys: readonly string[], since: string) => Promise.resolve(keys.flatMap((key) => rows.get(key) ?? []).filter((row) => row.shownAt >= since)),
  } as unknown as AuditStore;
  return { store, rows, writes };
}

const shown = (key: string, shownAt: string, fingerprint = `f-${key}`): ShownCard => ({ key, fingerprint, cardUuid: `u-${key}-${shownAt}`, shownAt });

describe('CardAuditQueue: what repeat suppression remembers, written with the audit', () => {
  it('is read back at once by this replica, and written in one batch at most 50 ms later', async () => {
    vi.useFakeTimers();
    const { store, rows, writes } = memoryStore();
    const { repeatMemory } = queue(store);
    await repeatMemory.rememberShown([shown('a', '2026-11-26T10:00:00.000Z'), shown('b', '2026-11-26T10:00:00.000Z')]);
    await repeatMemory.rememberShown([shown('c', '2026-11-26T10:00:01.000Z')]);
    expect(rows.size).toBe(0);
    const recalled = await repeatMemory.recallShown(['a', 'c', 'missing'], '2026-11-26T09:00:00.000Z');
    expect(recalled.map((r) => r.key).sort()).toEqual(['a', 'c']);
    await vi.advanceTimersByTimeAsync(50);
    expect(writes.map((w) => w.map((e) => e.key))).toEqual([['a', 'b', 'c']]);
    expect([...rows.keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('keeps the newest per key: in what it writes, and against what the store holds', async () => {
    const { store, rows, writes } = memoryStore();
    rows.set('a', shown('a', '2026-11-26T10:00:00.000Z', 'stored'));
    rows.set('b', shown('b', '2026-11-26T12:00:00.000Z', 'stored, newer (another replica)'));
    const audit = queue(store);
    await audit.repeatMemory.rememberShown([shown('a', '2026-11-26T11:00:00.000Z', 'first'), shown('b', '2026-11-26T11:00:00.000Z', 'mine')]);
    await audit.repeatMemory.rememberShown([shown('a', '2026-11-26T11:30:00.000Z', 'second')]);
    const recalled = await audit.repeatMemory.recallShown(['a', 'b'], '2026-11-26T00:00:00.000Z');
    expect(Object.fromEntries(recalled.map((r) => [r.key, r.fingerprint]))).toEqual({ a: 'second', b: 'stored, newer (another replica)' });
    // Not what was shown before the window.
    expect(await audit.repeatMemory.recallShown(['a'], '2026-11-26T11:45:00.000Z')).toEqual([]);
    await audit.close();
    expect(writes).toHaveLength(1);
    expect(writes[0]?.map((e) => [e.key, e.fingerprint])).toEqual([
      ['a', 'second'],
      ['b', 'mine'],
    ]);
  });

  it('writes what is remembered on flush (before feedback ends a repeat) and on close', async () => {
    const { store, rows } = memoryStore();
    const audit = queue(store);
    await audit.repeatMemory.rememberShown([shown('a', '2026-11-26T10:00:00.000Z')]);
    expect(audit.depth).toBe(1);
    await audit.flush();
    expect(rows.has('a')).toBe(true);
    await audit.repeatMemory.rememberShown([shown('b', '2026-11-26T10:00:00.000Z')]);
    await audit.close();
    expect(rows.has('b')).toBe(true);
    expect(audit.depth).toBe(0);
  });
});

describe('CardAuditQueue failures', () => {
  it('names which rows failed to be written: cards, or shown cards', async () => {
    const failed: string[] = [];
    const store = {
      recordCards: () => Promise.reject(new Error('cards table locked')),
      rememberShown: () => Promise.reject(new Error('shown_cards table locked')),
    } as unknown as AuditStore;
    const audit = new CardAuditQueue(store, {
      ...DEFAULT_CARD_AUDIT_QUEUE,
      onWriteFailed: (error, queued, _requestIds, rows) => failed.push(`${rows}: ${(error as Error).message} (${String(queued)} queued)`),
      onDropped: () => undefined,
    });
    audit.add(cards(0, 2));
    await audit.repeatMemory.rememberShown([shown('a', '2026-11-26T10:00:00.000Z')]);
    await audit.flush();
    expect(failed.sort()).toEqual(['cards: cards table locked (2 queued)', 'shown cards: shown_cards table locked (1 queued)']);
    expect(audit.failing).toBe(true);
    expect(audit.depth).toBe(3);
  });
});
