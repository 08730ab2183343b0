import { ServiceError } from '../errors.js';
import { isRecord } from '../fhir/tolerant.js';
import { criterionKind } from '../rules/catalogue-schema.js';
import type { Finding } from '../rules/evidence.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import type { Card } from './card-schema.js';
import { cardFindings } from './cards.js';

/**
 * Options an EHR may set per request, the way Da Vinci CRD does it (and the CDS Hooks 3.0 ballot
 * points to): discovery advertises them in `extension["davinci-crd.configuration-options"]`, a request
 * sets them in `extension["davinci-crd.configuration"]`. The service never requires any; unknown
 * options are ignored (and logged by name); a value of the wrong type is a 400 naming the option.
 */
export const CONFIGURATION_OPTIONS_EXTENSION = 'davinci-crd.configuration-options';
const CONFIGURATION_EXTENSION = 'davinci-crd.configuration';

export interface ConfigurationOption {
  code: string;
  type: 'boolean' | 'integer';
  name: string;
  description: string;
  default: boolean | number;
}

export const CONFIGURATION_OPTIONS: readonly ConfigurationOption[] = [
  {
    code: 'suppress-repeats',
    type: 'boolean',
    name: 'Suppress repeated cards',
    description:
      'On by default: a warning or info card already shown to this user for this patient, encounter, rule and order (product and dose) within the repeat window is not shown again unless its evidence changed; critical cards always are. Suppressed cards are counted in the response extension glutamine-cds.suppressed. The PDDI CDS flags filter-out-repeated-alerts and cache-for-order-sign-filtering (extension pddi-configuration-items) are honoured too.',
    default: true,
  },
  {
    code: 'show-info',
    type: 'boolean',
    name: 'Show informational findings',
    description:
      'Informational findings about an order (its notes card). The card naming data that could not be checked, or an order that could not be read, is always shown.',
    default: true,
  },
  {
    code: 'dose-checks',
    type: 'boolean',
    name: 'Dose checks',
    description: 'A daily dose above the labeled range, and a single dose above the weight band of the sickle cell label.',
    default: true,
  },
  {
    code: 'counselling',
    type: 'boolean',
    name: 'Patient counselling line',
    description:
      'Adds one line of patient-counselling advice to the detail of the first card about each glutamine order (that glutamine does not replace IBD or IBS medication, and is best taken apart from protein shakes); never a card of its own.',
    default: false,
  },
  {
    code: 'max-cards',
    type: 'integer',
    name: 'Most cards per response',
    description:
      '0 for no limit. Beyond it the least urgent cards are left out, never a critical one, and counted in the response extension glutamine-cds.suppressed.',
    default: 0,
  },
];

export interface ClientConfiguration {
  suppressRepeats: boolean;
  showInfo: boolean;
  doseChecks: boolean;
  counselling: boolean;
  /** 0: no limit. */
  maxCards: number;
  /** Option codes the request set that this service does not know (for the log). */
  ignored: string[];
}

/** Longest option code logged, and how many: the names come from the client. */
const MAX_LOGGED = { length: 64, count: 20 };

function optionValue(values: Record<string, unknown>, option: ConfigurationOption): boolean | number {
  const value = values[option.code];
  if (value === undefined) return option.default;
  const path = `extension.${CONFIGURATION_EXTENSION}.${option.code}`;
  const fits = option.type === 'boolean' ? typeof value === 'boolean' : Number.isSafeInteger(value) && (value as number) >= 0;
  if (!fits) {
    const expected = option.type === 'boolean' ? 'true or false' : 'a whole number, 0 or more';
    throw new ServiceError('ERR_BAD_REQUEST', `${path} must be ${expected}`, [{ path, message: `${path} must be ${expected}` }]);
  }
  return value as boolean | number;
}

/** The request's configuration, or the defaults; `extension` is the request's top-level extension. */
export function readClientConfiguration(extension: unknown): ClientConfiguration {
  const raw = isRecord(extension) ? extension[CONFIGURATION_EXTENSION] : undefined;
  if (raw !== undefined && !isRecord(raw)) {
    const path = `extension.${CONFIGURATION_EXTENSION}`;
    throw new ServiceError('ERR_BAD_REQUEST', `${path} must be an object of option values`, [{ path, message: `${path} must be an object of option values` }]);
  }
  const values = raw ?? {};
  const value = (code: string): boolean | number => {
    const option = CONFIGURATION_OPTIONS.find((o) => o.code === code);
    return option ? optionValue(values, option) : false;
  };
  const known = new Set(CONFIGURATION_OPTIONS.map((o) => o.code));
  return {
    suppressRepeats: value('suppress-repeats') === true,
    showInfo: value('show-info') === true,
    doseChecks: value('dose-checks') === true,
    counselling: value('counselling') === true,
    maxCards: Number(value('max-cards')),
    ignored: Object.keys(values)
      .filter((code) => !known.has(code))
      .slice(0, MAX_LOGGED.count)
      .map((code) => code.slice(0, MAX_LOGGED.length)),
  };
}

/** Rules that check the dose: those with a daily-dose or weight-band criterion. */
function doseRules(catalogue: Catalogue): Set<string> {
  return new Set(
    catalogue.rules
      .filter((rule) =>
        rule.tiers.some((tier) => typeof tier.when !== 'string' && tier.when.some((c) => ['dailyDose', 'singleDoseWeightBand'].includes(criterionKind(c)))),
      )
      .map((rule) => rule.id),
  );
}

/** The findings this request asked for: informational ones and dose checks can be switched off. */
export function configuredFindings(findings: readonly Finding[], configuration: ClientConfiguration, catalogue: Catalogue): Finding[] {
  const dose = configuration.doseChecks ? new Set<string>() : doseRules(catalogue);
  return findings.filter((f) => (configuration.showInfo || f.indicator !== 'info') && !dose.has(f.ruleId));
}

const URGENCY: Readonly<Record<Card['indicator'], number>> = { critical: 0, warning: 1, info: 2 };

/**
 * At most `maxCards` cards: the least urgent go first (the last of equal urgency first), and a
 * critical card never goes. What is left out is returned, to be counted in the response.
 */
export function limitCards(cards: readonly Card[], maxCards: number): { shown: Card[]; left: Card[] } {
  if (maxCards === 0 || cards.length <= maxCards) return { shown: [...cards], left: [] };
  const leaving = new Set(
    cards
      .map((card, index) => ({ card, index }))
      .filter(({ card }) => card.indicator !== 'critical')
      .sort((a, b) => URGENCY[b.card.indicator] - URGENCY[a.card.indicator] || b.index - a.index)
      .slice(0, cards.length - maxCards)
      .map(({ card }) => card),
  );
  return { shown: cards.filter((c) => !leaving.has(c)), left: cards.filter((c) => leaving.has(c)) };
}

/** The response extension that counts cards left out, so that none is lost silently. */
const SUPPRESSED_EXTENSION = 'glutamine-cds.suppressed';

/** Why cards were left out: a repeat of what was shown already, or beyond max-cards. */
type SuppressionReason = 'repeat' | 'max-cards';

interface Suppressed {
  count: number;
  rules: string[];
  reasons: Partial<Record<SuppressionReason, number>>;
}

/**
 * The response's extension with `left` counted as left out for `reason`, added to what it counts
 * already: max-cards (in the hook call) and repeats (after it) add up in one summary.
 */
export function withSuppressed(extension: Record<string, unknown> | undefined, reason: SuppressionReason, left: readonly Card[]): Record<string, unknown> {
  const earlier = (extension?.[SUPPRESSED_EXTENSION] as Suppressed | undefined) ?? { count: 0, rules: [], reasons: {} };
  return {
    ...extension,
    [SUPPRESSED_EXTENSION]: {
      count: earlier.count + left.length,
      rules: [...new Set([...earlier.rules, ...left.flatMap((c) => cardFindings(c).map((f) => f.rule))])],
      reasons: { ...earlier.reasons, [reason]: (earlier.reasons[reason] ?? 0) + left.length },
    } satisfies Suppressed,
  };
}

/**
 * The counselling line, once per order: in the detail of the first (most urgent) card about it.
 * Counselling is advice in a card, never a card of its own (clinical specification).
 */
export function withCounselling(cards: readonly Card[], line: string): Card[] {
  const counselled = new Set<unknown>();
  return cards.map((card) => {
    const order = card.extension?.['glutamine-cds.order'];
    if (order === undefined || counselled.has(order)) return card;
    counselled.add(order);
    return { ...card, detail: `${card.detail ?? ''}\n\n${line}` };
  });
}
