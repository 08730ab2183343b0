import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { FIXTURES_DIR } from './helpers.js';

/** The glutamine-cds command line against the fixture library. */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUNDLES = join(FIXTURES_DIR, 'bundles');
const FIXTURE_DAY = '2026-11-26';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, (t) => out.push(t), (t) => err.push(t));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const bundles = readdirSync(BUNDLES)
  .filter((f) => f.endsWith('.expected.json'))
  .map((f) => f.replace('.expected.json', ''));

describe('glutamine-cds check', () => {
  it('has a patient bundle for every rule that can fire', () => {
    const expected = bundles.flatMap((b) => (JSON.parse(readFileSync(join(BUNDLES, `${b}.expected.json`), 'utf8')) as { cards: string[] }).cards);
    const rules = new Set(expected.map((c) => c.split(':')[0]));
    for (const rule of ['liver-disease', 'hyperammonemia', 'kidney-disease', 'active-cancer', 'bipolar-disorder', 'lactulose', 'antiseizure-medication', 'duplicate-glutamine', 'dose-above-range', 'duration-above-studied', 'combination-product', 'weight-loss-indication']) {
      expect(rules, rule).toContain(rule);
    }
  });

  it.each(bundles)('%s gives the cards its expected file lists', async (name) => {
    const expected = JSON.parse(readFileSync(join(BUNDLES, `${name}.expected.json`), 'utf8')) as { cards: string[] };
    const { code, out } = await cli('check', '--json', '--now', FIXTURE_DAY, join(BUNDLES, `${name}.json`));
    const response = JSON.parse(out) as { cards: Array<{ indicator: string; source: { topic: { code: string } } }> };
    expect(response.cards.map((c) => `${c.source.topic.code}:${c.indicator}`)).toEqual(expected.cards);
    expect(code).toBe(expected.cards.some((c) => c.endsWith(':critical')) ? 2 : 0);
  });

  it('prints cards readably: indicator, summary, rule id, evidence, suggestion', async () => {
    const { code, out } = await cli('check', join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'));
    expect(code).toBe(2);
    expect(out).toContain('CRITICAL Avoid glutamine: advanced liver disease (risk of hepatic encephalopathy)  [liver-disease]');
    expect(out).toContain('- Alcoholic cirrhosis of liver without ascites — ICD-10-CM K70.30, onset 2021-04-09');
    expect(out).toContain('Suggestion: Remove glutamine order (delete MedicationRequest/glutamine-order)');
    expect(out).not.toContain('\u001b['); // no colour when not on a terminal
  });

  it('checks a complete hook request as it is, and builds order-select requests', async () => {
    const request = await cli('check', '--json', join(FIXTURES_DIR, 'scenarios', 'lactulose-current-medication.json'));
    expect(request.code).toBe(0);
    expect(JSON.parse(request.out)).toMatchObject({ cards: [{ indicator: 'warning', source: { topic: { code: 'lactulose' } } }] });
    const select = await cli('check', '--hook', 'order-select', '--json', join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'));
    expect(JSON.parse(select.out)).toMatchObject({ cards: [{ indicator: 'critical' }] });
  });

  it('exits 1 naming the file when a bundle has nothing to check', async () => {
    const { code, err } = await cli('check', join(BUNDLES, 'patient-cirrhosis-ckd.json'));
    expect(code).toBe(1);
    expect(err).toContain('patient-cirrhosis-ckd.json: the bundle has no glutamine MedicationRequest to check');
  });

  it('fetches from a FHIR server given with --fhir-server (the docs/integration.md walkthrough)', async () => {
    const { startLocalFhirServer } = await import('../scripts/local-fhir-server.js');
    const server = await startLocalFhirServer({ resources: [JSON.parse(readFileSync(join(BUNDLES, 'patient-cirrhosis-ckd.json'), 'utf8'))] });
    try {
      const { code, out } = await cli('check', '--json', '--now', FIXTURE_DAY, '--fhir-server', server.baseUrl, join(FIXTURES_DIR, 'requests', 'endari-no-prefetch.json'));
      const cards = (JSON.parse(out) as { cards: Array<{ indicator: string; source: { topic: { code: string } } }> }).cards;
      expect(cards.map((c) => `${c.source.topic.code}:${c.indicator}`)).toEqual(['liver-disease:critical', 'kidney-disease:warning', 'lactulose:warning']);
      expect(code).toBe(2);
      expect(readFileSync(join(ROOT, 'docs', 'integration.md'), 'utf8')).toContain('--fhir-server http://127.0.0.1:8090/fhir fixtures/requests/endari-no-prefetch.json');
    } finally {
      await server.close();
    }
  });

  it('runs as npx glutamine-cds (the package bin)', () => {
    const result = spawnSync(process.execPath, ['bin/glutamine-cds.mjs', 'check', 'fixtures/bundles/liver-disease-alcoholic-cirrhosis.json'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(result.status).toBe(2);
    expect(result.stdout).toContain('CRITICAL');
  }, 30000);
});

describe('glutamine-cds validate', () => {
  it('passes a valid bundle and hook request', async () => {
    const { code, out } = await cli('validate', join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'), join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'));
    expect(code).toBe(0);
    expect(out).toContain('liver-disease-alcoholic-cirrhosis.json: valid');
  });

  it('names the paths that are not valid R4 (the Sandbox-style payload)', async () => {
    const { code, out } = await cli('validate', join(FIXTURES_DIR, 'scenarios', 'sandbox-lenient-payload.json'));
    expect(code).toBe(1);
    expect(out).toContain('context.draftOrders.entry[0].resource (MedicationRequest) MedicationRequest.reasonCode: Expected array of values for property');
    expect(out).toContain('prefetch.conditions Bundle.type: Missing required property');
  });

  it('names a missing envelope field', async () => {
    const { code, out } = await cli('validate', join(FIXTURES_DIR, 'scenarios', 'healthy-patient-no-card.expected.json'));
    expect(code).toBe(1);
    expect(out).toContain('neither a CDS Hooks request');
  });
});
