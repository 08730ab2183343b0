import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cardFindings } from '../cds/cards.js';
import type { HookResponse } from '../cds/card-schema.js';
import { isRecord } from '../fhir/tolerant.js';

/**
 * `check --expect`: what a fixture's `<name>.expected.json` says must come back, compared with what
 * did. Two shapes are read, those of the fixture library:
 * - fixtures/bundles: `{ "cards": ["liver-disease:critical + lactulose:warning", …] }`;
 * - fixtures/scenarios: `{ "service", "status", "cards": [{ "rule", "indicator", "findings"? }] }`.
 * A card is named by its findings, `rule:indicator` joined by ` + ` (a merged card carries several).
 */

/** The outcome of one check: the HTTP status, and the response when it was a 200. */
export interface CheckOutcome {
  status: number;
  serviceId: string;
  response?: HookResponse;
}

export function expectedFileFor(file: string): string {
  return file.replace(/\.json$/, '.expected.json');
}

export function isExpectedFile(file: string): boolean {
  return file.endsWith('.expected.json');
}

/** The `*.json` files of a folder, in name order, without the `*.expected.json` beside them. */
export function jsonFilesIn(folder: string): string[] {
  return readdirSync(folder)
    .filter((name) => name.endsWith('.json') && !isExpectedFile(name))
    .sort()
    .map((name) => join(folder, name));
}

function cardLabels(response: HookResponse | undefined): string[] {
  return (response?.cards ?? []).map((card) =>
    cardFindings(card)
      .map((f) => `${f.rule}:${f.indicator}`)
      .join(' + '),
  );
}

/** The labels the expected file lists, or a reason it cannot be read as an expectation. */
function expectedLabels(expected: Record<string, unknown>): string[] | string {
  if (!Array.isArray(expected.cards)) return 'has no "cards" list';
  const labels: string[] = [];
  for (const card of expected.cards as unknown[]) {
    if (typeof card === 'string') labels.push(card);
    else if (isRecord(card) && typeof card.rule === 'string' && typeof card.indicator === 'string') {
      const findings = Array.isArray(card.findings) ? card.findings.filter((f): f is string => typeof f === 'string') : [`${card.rule}:${card.indicator}`];
      labels.push(findings.join(' + '));
    } else return 'lists a card that is neither "rule:indicator" nor { rule, indicator }';
  }
  return labels;
}

/** The differences between what was expected and what came back; empty when they agree. */
export function differences(expected: unknown, outcome: CheckOutcome): string[] {
  if (!isRecord(expected)) return ['the expected file is not a JSON object'];
  const problems: string[] = [];
  if (typeof expected.service === 'string' && expected.service !== outcome.serviceId) {
    problems.push(`expected service ${expected.service}, the request went to ${outcome.serviceId}`);
  }
  const status = typeof expected.status === 'number' ? expected.status : 200;
  if (status !== outcome.status) return [...problems, `expected HTTP ${String(status)}, got ${String(outcome.status)}`];
  if (status !== 200) return problems;
  const want = expectedLabels(expected);
  if (typeof want === 'string') return [...problems, `the expected file ${want}`];
  const got = cardLabels(outcome.response);
  if (want.join('\n') !== got.join('\n')) {
    problems.push(`expected cards [${want.join(', ') || 'none'}], got [${got.join(', ') || 'none'}]`);
  }
  return problems;
}
