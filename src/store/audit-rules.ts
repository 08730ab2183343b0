import { createHash } from 'node:crypto';
import type { FeedbackRecord } from './audit-store.js';

/*
 * What every audit store decides the same way, whatever database it is on.
 */

/** The identity of a feedback item: the same item posted twice has the same key (idempotent posts). */
export function feedbackItemKey(item: FeedbackRecord): string {
  const identity = [
    item.card,
    item.outcome,
    item.outcomeTimestamp,
    [...item.acceptedSuggestions].sort().join(','),
    item.overrideReason?.system ?? '',
    item.overrideReason?.code ?? '',
  ];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

/** The UTC day an ISO 8601 UTC instant falls on: the analytics counters' granularity. */
export function dayOf(isoInstant: string): string {
  return isoInstant.slice(0, 10);
}

/** Who a card was issued to, as stored. */
export interface CardOwner {
  serviceId: string;
  clientIss: string | null;
  clientTenant: string | null;
}

/** What a store knows of a card when feedback on it arrives: its owner and its latest answer. */
export interface KnownCard extends CardOwner {
  issuedAt: string;
  latestOutcome: 'accepted' | 'overridden' | null;
  latestOverrideSystem: string | null;
  latestOverrideCode: string | null;
  latestReceivedAt: string | null;
}

/** Feedback is bound to its card: the service that issued it, and the client (iss and tenant) it was issued to. */
export function feedbackBelongsTo(card: CardOwner | undefined, item: FeedbackRecord): card is CardOwner {
  return (
    card !== undefined && card.serviceId === item.serviceId && card.clientIss === (item.clientIss ?? null) && card.clientTenant === (item.clientTenant ?? null)
  );
}

/** Whether an answer received at `receivedAt` becomes the card's latest (latest as received; a later write wins a tie). */
export function isLatestAnswer(receivedAt: string, currentLatest: string | null): boolean {
  return currentLatest === null || receivedAt >= currentLatest;
}
