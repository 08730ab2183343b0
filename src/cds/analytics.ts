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

/** Per rule of the catalogue (in its order, zeros included): issued, accepted, overridden, why overridden. */
export function ruleAnalytics(store: AuditStore, catalogue: Catalogue, since: Date): RuleAnalytics {
  const counts = new Map(store.ruleCounts(since.toISOString()).map((c) => [c.ruleId, c]));
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
