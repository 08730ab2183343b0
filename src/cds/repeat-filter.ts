import { createHash, createHmac } from 'node:crypto';
import { isRecord } from '../fhir/tolerant.js';
import type { RepeatMemory } from '../store/audit-store.js';
import type { Card } from './card-schema.js';
import { withSuppressed } from './client-configuration.js';
import type { HookCallResult } from './hook-call.js';

/**
 * Repeat suppression across order-select and order-sign (and the repeated order-select calls the
 * Sandbox sends), after the HL7 PDDI CDS guide's "CDS Message Filtering", without its weaknesses:
 * - the key is user, patient, encounter, rule and order (product and dose), hashed with a secret
 *   of the store — never a display name, and no identifier is stored;
 * - a repeat counts only within the window (CDS_REPEAT_WINDOW, default 4 h);
 * - a critical card always comes back;
 * - changed evidence (a new lab, a new diagnosis) makes the card new again;
 * - what is left out is counted in the response's `extension["glutamine-cds.suppressed"]`, never
 *   a notice card (the guide's breaks CDS Hooks 2.0 with an empty source).
 * Feedback on a card (accepted or overridden) ends its repeat: the next call shows it again.
 */

/** The PDDI CDS request flags (`extension["pddi-configuration-items"]`). */
const PDDI_EXTENSION = 'pddi-configuration-items';

export interface RepeatContext {
  userId?: string | undefined;
  patientId: string;
  encounterId?: string | undefined;
  /** The request's top-level extension (PDDI flags). */
  extension?: unknown;
}

export interface RepeatOptions {
  windowMs: number;
  now: Date;
}

function pddiFlag(extension: unknown, flag: string): boolean | undefined {
  const items = isRecord(extension) ? extension[PDDI_EXTENSION] : undefined;
  const value = isRecord(items) ? items[flag] : undefined;
  return typeof value === 'boolean' ? value : undefined;
}

/** The evidence a card shows: its indicator, summary and detail (codes, values, dates). */
function fingerprint(card: Card): string {
  return createHash('sha256')
    .update(JSON.stringify([card.indicator, card.summary, card.detail ?? '']))
    .digest('hex');
}

function orderOf(card: Card): string {
  const order = card.extension?.['glutamine-cds.order'];
  return typeof order === 'string' ? order : '';
}

/**
 * The response without the cards this user was just shown for the same patient, encounter, rule and
 * order with the same evidence; what it shows is remembered for the next call.
 */
export async function suppressRepeats(
  result: HookCallResult,
  context: RepeatContext,
  memory: RepeatMemory,
  options: RepeatOptions,
): Promise<{ response: HookCallResult['response']; suppressed: Card[] }> {
  const { response } = result;
  const filter = result.configuration.suppressRepeats && pddiFlag(context.extension, 'filter-out-repeated-alerts') !== false;
  const remember = pddiFlag(context.extension, 'cache-for-order-sign-filtering') !== false;
  if ((!filter && !remember) || response.cards.length === 0) return { response, suppressed: [] };

  const secret = await memory.repeatKeySecret();
  const keyOf = (card: Card): string =>
    createHmac('sha256', secret)
      .update(
        JSON.stringify([
          context.userId ?? '',
          context.patientId,
          context.encounterId ?? '',
          card.source.topic?.code ?? '',
          result.orderSignatures[orderOf(card)] ?? orderOf(card),
        ]),
      )
      .digest('hex');
  const candidates = response.cards.map((card) => ({ card, key: keyOf(card), fingerprint: fingerprint(card) }));
  const since = new Date(options.now.getTime() - options.windowMs).toISOString();
  const shown = filter
    ? new Map(
        (
          await memory.recallShown(
            candidates.map((c) => c.key),
            since,
          )
        ).map((s) => [s.key, s.fingerprint]),
      )
    : new Map<string, string>();

  const isRepeat = (c: (typeof candidates)[number]): boolean => c.card.indicator !== 'critical' && shown.get(c.key) === c.fingerprint;
  const kept = candidates.filter((c) => !isRepeat(c));
  const suppressed = candidates.filter(isRepeat);
  if (remember) {
    const shownAt = options.now.toISOString();
    await memory.rememberShown(kept.map((c) => ({ key: c.key, fingerprint: c.fingerprint, cardUuid: c.card.uuid, shownAt })));
  }
  if (suppressed.length === 0) return { response, suppressed: [] };

  const suppressedCards = suppressed.map((s) => s.card);
  return {
    response: { cards: kept.map((k) => k.card), extension: withSuppressed(response.extension, 'repeat', suppressedCards) },
    suppressed: suppressedCards,
  };
}
