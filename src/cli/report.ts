import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { analyticsSince, ruleAnalytics } from '../cds/analytics.js';
import type { RuleAnalytics } from '../cds/analytics.js';
import type { Config } from '../config.js';
import { loadCatalogue } from '../rules/load-catalogue.js';
import { DEFAULT_OPEN_OPTIONS, describeDatabaseUrl, openAuditStore } from '../store/open-store.js';

/**
 * `glutamine-cds report` (`npm run report`): how clinicians respond to each rule, from the service's
 * own audit store — CDS_DATABASE_URL when set, else CDS_DB_PATH. The same figures as
 * GET /analytics/rules, as a table or (--json) as that endpoint's JSON.
 */

/** A database that cannot be reported on, named. */
export class ReportError extends Error {}

export function renderTable(report: RuleAnalytics): string {
  const header = ['rule id', 'issued', 'accepted', 'overridden', 'override rate', 'top override reasons', 'signals (30 days)'];
  const rows = report.rules.map((r) => [
    r.ruleId,
    String(r.issued),
    String(r.accepted),
    String(r.overridden),
    `${(r.overrideRate * 100).toFixed(1)}%`,
    r.topOverrideReasons.map((o) => `${o.display} (${String(o.count)})`).join('; ') || '—',
    r.signals.join(', ') || '—',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [`Since ${report.since}`, '', line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export async function report(config: Readonly<Config>, options: { since?: string; json: boolean }, now: Date): Promise<string> {
  const since = analyticsSince(options.since, now, config.retentionDays);
  if (since === undefined) throw new ReportError('--since needs a date such as 2026-01-01');
  // A wrong path must not quietly create an empty database and report zeros.
  if (config.databaseUrl === undefined && !existsSync(config.dbPath)) {
    throw new ReportError(`No audit database at ${config.dbPath}: set CDS_DB_PATH to the service's database (or CDS_DATABASE_URL)`);
  }
  const catalogue = loadCatalogue(fileURLToPath(new URL('../../cards/', import.meta.url)));
  let store;
  try {
    store = await openAuditStore(config, { ...DEFAULT_OPEN_OPTIONS, attempts: 1, onRetry: () => undefined });
  } catch (error) {
    const where = config.databaseUrl ? describeDatabaseUrl(config.databaseUrl) : config.dbPath;
    throw new ReportError(`Cannot open the audit database ${where}: ${(error as Error).message}`);
  }
  try {
    const analytics = await ruleAnalytics(store, catalogue, since);
    return options.json ? JSON.stringify(analytics, null, 2) : renderTable(analytics);
  } finally {
    await store.close();
  }
}
