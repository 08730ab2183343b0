import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createApp, loggedCardAuditQueue } from '../src/app.js';
import type { Card } from '../src/cds/card-schema.js';
import { cardFindings } from '../src/cds/cards.js';
import type { AppDeps } from '../src/app.js';
import { createLogger } from '../src/logger.js';
import { loadCatalogue } from '../src/rules/load-catalogue.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import type { Catalogue } from '../src/rules/load-catalogue.js';

export const CARDS_DIR = fileURLToPath(new URL('../cards/', import.meta.url));
export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** The fixed "now" of every test and fixture: look-back windows are measured from here. */
export const NOW = new Date('2026-11-26T12:00:00Z');
export const PUBLIC_URL = 'https://cds.example.org';
/** Loopback http FHIR servers are allowed in tests; timeouts short enough to test quickly. */
export const TEST_FHIR_POLICY = { timeoutMs: 2000, budgetMs: 3000, allowHttp: true, maxPages: 10, maxResponseBytes: 5 * 1024 * 1024 };
/** For tests about prefetch alone: any fhirServer in a fixture is refused at once, so nothing goes out. */
export const NO_OUTBOUND_FHIR_POLICY = { ...TEST_FHIR_POLICY, allowlist: ['https://no-fhir-server.invalid/fhir'] };

let catalogue: Catalogue | undefined;
export function testCatalogue(): Catalogue {
  catalogue ??= loadCatalogue(CARDS_DIR);
  return catalogue;
}

/** Deterministic, valid v4 UUIDs: 00000000-0000-4000-8000-000000000001, …002, … */
export function sequentialIds(): () => string {
  let n = 0;
  return () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

/** Captures log lines so tests can assert what is (and is not) logged. */
function captureLogs(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      callback();
    },
  });
  return { lines, stream };
}

export function testApp(overrides: Partial<AppDeps> = {}) {
  const logs = captureLogs();
  const logger = createLogger('info', logs.stream);
  const store = overrides.store ?? new SqliteAuditStore(':memory:');
  // The card audit is written in batches after the response; tests that read the store call
  // `await audit.flush()` first, as the feedback and analytics routes do.
  const audit = overrides.auditQueue ?? loggedCardAuditQueue(store, logger, overrides.metrics);
  const app = createApp({
    // Safe by default: nothing reaches out unless a test passes a policy that lets it.
    config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY },
    catalogue: testCatalogue(),
    logger,
    now: () => NOW,
    newId: sequentialIds(),
    ...overrides,
    store,
    auditQueue: audit,
  });
  return { app, logs: logs.lines, audit };
}

/** What a card carries, as `rule:indicator` joined by ` + ` (a merged card carries several findings). */
export function cardLabel(card: Card): string {
  return cardFindings(card)
    .map((f) => `${f.rule}:${f.indicator}`)
    .join(' + ');
}

/** Whether a card carries a finding of this rule. */
export function carries(card: Card, rule: string): boolean {
  return cardFindings(card).some((f) => f.rule === rule);
}
