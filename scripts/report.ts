/**
 * How clinicians respond to each rule, from the audit database:
 *
 *   npm run report                     # a table, last CDS_RETENTION_DAYS days
 *   npm run report -- --json           # the same as GET /analytics/rules
 *   npm run report -- --since 2026-01-01
 *
 * Reads the service's own store: CDS_DATABASE_URL when set, else CDS_DB_PATH (default ./data/glutamine-cds.sqlite).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyticsSince, ruleAnalytics } from '../src/cds/analytics.js';
import type { RuleAnalytics } from '../src/cds/analytics.js';
import { loadConfig } from '../src/config.js';
import { loadCatalogue } from '../src/rules/load-catalogue.js';
import { DEFAULT_OPEN_OPTIONS, openAuditStore } from '../src/store/open-store.js';

export function renderTable(report: RuleAnalytics): string {
  const header = ['rule id', 'issued', 'accepted', 'overridden', 'override rate', 'top override reasons', 'signals (30 days)'];
  const rows = report.rules.map((r) => [
    r.ruleId,
    String(r.issued),
    String(r.accepted),
    String(r.overridden),
    `${(r.overrideRate * 100).toFixed(1)}%`,
    r.topOverrideReasons.map((o) => `${o.display} (${o.count})`).join('; ') || '—',
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

async function main(argv: string[]): Promise<void> {
  const config = loadConfig(process.env);
  const sinceAt = argv.indexOf('--since');
  const since = analyticsSince(sinceAt >= 0 ? (argv[sinceAt + 1] ?? '') : undefined, new Date(), config.retentionDays);
  if (since === undefined) throw new Error('--since needs a date such as 2026-01-01');
  const catalogue = loadCatalogue(fileURLToPath(new URL('../cards/', import.meta.url)));
  // A wrong path must not quietly create an empty database and report zeros.
  if (config.databaseUrl === undefined && !existsSync(config.dbPath)) {
    throw new Error(`No audit database at ${config.dbPath}: set CDS_DB_PATH to the service's database (or CDS_DATABASE_URL)`);
  }
  const store = await openAuditStore(config, { ...DEFAULT_OPEN_OPTIONS, attempts: 1, onRetry: () => undefined });
  try {
    const report = await ruleAnalytics(store, catalogue, since);
    console.log(argv.includes('--json') ? JSON.stringify(report, null, 2) : renderTable(report));
  } finally {
    await store.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
