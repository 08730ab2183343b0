import { DAY_MS } from '../fhir/dates.js';
import type { Catalogue } from '../rules/load-catalogue.js';
import type { AuditStore } from '../store/audit-store.js';

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
  }>;
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
export async function ruleAnalytics(store: AuditStore, catalogue: Catalogue, since: Date): Promise<RuleAnalytics> {
  const counts = new Map((await store.ruleCounts(since.toISOString())).map((c) => [c.ruleId, c]));
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
        topOverrideReasons: (c?.overrideReasons ?? []).slice(0, 5).map((r) => ({
          code: r.code,
          // Clients may send only code and system (the Sandbox does): name our own reasons from cards/.
          display: r.display ?? (r.system === catalogue.overrideReasonSystem ? catalogue.overrideReasons[r.code] : undefined) ?? r.code,
          count: r.count,
        })),
      };
    }),
  };
}
