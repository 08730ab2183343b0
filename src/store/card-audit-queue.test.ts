import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuditStore, IssuedCard } from './audit-store.js';
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
