import { DAY_MS } from '../fhir/dates.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import type { AuditStore, RuleCounts } from '../store/audit-store.js';

export interface RuleAnalytics {
  since: string;
  rules: Array<{
    ruleId: string;
    issued: number;
    accepted: number;
    overridden: number;
    /** overridden ÷ (accepted + overridden): of the cards clinicians acted on, the share they overrode. */
    overrideRate: number;
    topOverrideReasons: Array<{ code: string; display: string; count: number }>;
    /**
     * The signals of a bad alert, over the last 30 days: `override-rate-above-90%` (clinicians
     * override nearly every card), `mostly-not-applicable` (most overrides say the card does not apply).
     */
    signals: Array<'override-rate-above-90%' | 'mostly-not-applicable'>;
  }>;
}

/** The standard code for "this card does not apply to the patient" (non-adherence-reason-codes). */
const NOT_APPLICABLE = 'cds-not-applicable';
const SIGNAL_WINDOW_DAYS = 30;

/** The name of an override reason the client sent by code only: the standard ones, and the older system's. */
function reasonName(catalogue: Catalogue, system: string | undefined, code: string): string | undefined {
  if (system === catalogue.overrideReasonSystem) return catalogue.overrideReasons[code];
  if (system !== undefined && system === catalogue.legacyOverrideReasons?.system) return catalogue.legacyOverrideReasons.reasons[code];
  return undefined;
}

/** Reasons grouped by code, whichever system a client named it in, most frequent first. */
function byCode(reasons: RuleCounts['overrideReasons']): RuleCounts['overrideReasons'] {
  const grouped = new Map<string, RuleCounts['overrideReasons'][number]>();
  for (const r of reasons) {
    const seen = grouped.get(r.code);
    grouped.set(r.code, seen ? { ...seen, display: seen.display ?? r.display, count: seen.count + r.count } : { ...r });
  }
  return [...grouped.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
}

function signalsOf(counts: RuleCounts | undefined): RuleAnalytics['rules'][number]['signals'] {
  if (!counts) return [];
  const acted = counts.accepted + counts.overridden;
  const notApplicable = counts.overrideReasons.filter((r) => r.code === NOT_APPLICABLE).reduce((sum, r) => sum + r.count, 0);
  return [
    ...(acted > 0 && counts.overridden / acted > 0.9 ? (['override-rate-above-90%'] as const) : []),
    ...(counts.overridden > 0 && notApplicable / counts.overridden > 0.5 ? (['mostly-not-applicable'] as const) : []),
  ];
}

/**
 * The first day the analytics cover: `since` (a date such as 2026-01-01, or an instant) rounded down
 * to the start of its UTC day — counts are kept per day — or, without it, the day `retentionDays` ago.
 * Undefined when `since` is not a date between the years 0 and 9999.
 */
export function analyticsSince(since: string | undefined, now: Date, retentionDays: number): Date | undefined {
  const at = since === undefined ? new Date(now.getTime() - retentionDays * DAY_MS) : new Date(since);
  const year = at.getUTCFullYear();
  if (Number.isNaN(at.getTime()) || year < 0 || year > 9999) return undefined;
  return new Date(Date.UTC(year, at.getUTCMonth(), at.getUTCDate()));
}

/**
 * Per rule of the catalogue (in its order, zeros included): issued, accepted, overridden, why
 * overridden — for cards issued on the UTC day of `since` or later.
 */
export async function ruleAnalytics(store: AuditStore, catalogue: Catalogue, since: Date, now = new Date()): Promise<RuleAnalytics> {
  const counts = new Map((await store.ruleCounts(since.toISOString())).map((c) => [c.ruleId, c]));
  const recent = new Map((await store.ruleCounts(new Date(now.getTime() - SIGNAL_WINDOW_DAYS * DAY_MS).toISOString())).map((c) => [c.ruleId, c]));
  return {
    since: since.toISOString(),
    rules: catalogue.rules.map((rule) => {
      const c = counts.get(rule.id);
      const accepted = c?.accepted ?? 0;
      const overridden = c?.overridden ?? 0;
      const acted = accepted + overridden;
      return {
        ruleId: rule.id,
        issued: c?.issued ?? 0,
        accepted,
        overridden,
        overrideRate: acted === 0 ? 0 : Math.round((overridden / acted) * 1000) / 1000,
        topOverrideReasons: byCode(c?.overrideReasons ?? [])
          .slice(0, 5)
          .map((r) => ({
            code: r.code,
            // Clients may send only code and system (the Sandbox does): name our own reasons from cards/,
            // the standard ones and those of the older system alike.
            display: r.display ?? reasonName(catalogue, r.system, r.code) ?? r.code,
            count: r.count,
          })),
        signals: signalsOf(recent.get(rule.id)),
      };
    }),
  };
}
