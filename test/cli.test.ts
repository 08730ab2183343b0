import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { HookResponse } from '../src/cds/card-schema.js';
import { run } from '../src/cli/main.js';
import { FIXTURES_DIR, cardLabel } from './helpers.js';

/** The glutamine-cds command line against the fixture library. */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUNDLES = join(FIXTURES_DIR, 'bundles');
const FIXTURE_DAY = '2026-11-26';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(
    args,
    (t) => out.push(t),
    (t) => err.push(t),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const bundles = readdirSync(BUNDLES)
  .filter((f) => f.endsWith('.expected.json'))
  .map((f) => f.replace('.expected.json', ''));

describe('glutamine-cds check', () => {
  it('has a patient bundle for every rule that can fire', () => {
    const expected = bundles.flatMap((b) => (JSON.parse(readFileSync(join(BUNDLES, `${b}.expected.json`), 'utf8')) as { cards: string[] }).cards);
    const rules = new Set(expected.map((c) => c.split(':')[0]));
    for (const rule of [
      'liver-disease',
      'hyperammonemia',
      'kidney-disease',
      'active-cancer',
      'bipolar-disorder',
      'lactulose',
      'antiseizure-medication',
      'duplicate-glutamine',
      'dose-above-range',
      'duration-above-studied',
      'combination-product',
      'weight-loss-indication',
    ]) {
      expect(rules, rule).toContain(rule);
    }
  });

  it.each(bundles)('%s gives the cards its expected file lists', async (name) => {
    const expected = JSON.parse(readFileSync(join(BUNDLES, `${name}.expected.json`), 'utf8')) as { cards: string[] };
    const { code, out } = await cli('check', '--json', '--now', FIXTURE_DAY, join(BUNDLES, `${name}.json`));
    const response = JSON.parse(out) as HookResponse;
    expect(response.cards.map(cardLabel)).toEqual(expected.cards);
    expect(code).toBe(expected.cards.some((c) => c.endsWith(':critical')) ? 3 : 0);
  });

  it('prints cards readably: indicator, summary, rule id, evidence, suggestion', async () => {
    const { code, out } = await cli('check', join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'));
    expect(code).toBe(3);
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
      const { code, out } = await cli(
        'check',
        '--json',
        '--now',
        FIXTURE_DAY,
        '--fhir-server',
        server.baseUrl,
        join(FIXTURES_DIR, 'requests', 'endari-no-prefetch.json'),
      );
      const cards = (JSON.parse(out) as HookResponse).cards;
      expect(cards.map(cardLabel)).toEqual(['liver-disease:critical + lactulose:warning', 'kidney-disease:warning']);
      expect(code).toBe(3);
      expect(readFileSync(join(ROOT, 'docs', 'integration.md'), 'utf8')).toContain(
        '--fhir-server http://127.0.0.1:8090/fhir fixtures/requests/endari-no-prefetch.json',
      );
    } finally {
      await server.close();
    }
  });

  it('runs as npx glutamine-cds (the package bin), from the sources in a checkout', () => {
    const result = spawnSync(process.execPath, ['bin/glutamine-cds.mjs', 'check', 'fixtures/bundles/liver-disease-alcoholic-cirrhosis.json'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(result.status).toBe(3);
    expect(result.stdout).toContain('CRITICAL');
  }, 30000);

  it.each([
    [['check', '--foo', 'x.json'], "Unknown option '--foo'"],
    [['check', '--url'], "Option '--url <value>' argument missing"],
    [['check'], 'check needs at least one file'],
    [['check', '--hook', 'order-dispatch', 'x.json'], '--hook must be order-sign or order-select'],
    [['check', '--now', 'yesterday', 'x.json'], '--now must be a date'],
    [['validate'], 'validate needs at least one file'],
    [['frobnicate'], 'unknown command: frobnicate'],
    [[], 'no command given'],
  ])('%j is a usage error: the reason and the usage on stderr, exit 2', async (args, reason) => {
    const { code, out, err } = await cli(...args);
    expect(code).toBe(2);
    expect(err).toContain(reason);
    expect(err).toContain('Usage:');
    expect(out).toBe('');
  });

  it('--help prints the usage with the exit codes, exit 0', async () => {
    for (const args of [['--help'], ['check', '--help'], ['validate', '-h']]) {
      const { code, out } = await cli(...args);
      expect(code).toBe(0);
      expect(out).toContain('Exit codes: 0 done (no critical card), 1 a file could not be checked or is not valid');
    }
  });

  it('the bin refuses a dist/ older than src/ when it cannot run the sources (no tsx installed)', () => {
    const copy = mkdtempSync(join(tmpdir(), 'glutamine-bin-'));
    cpSync(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
    mkdirSync(join(copy, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(copy, 'dist', 'cli', 'main.js'), 'export async function run() { return 0; }\n');
    utimesSync(join(copy, 'dist', 'cli', 'main.js'), new Date('2026-01-01'), new Date('2026-01-01'));
    cpSync(join(ROOT, 'src', 'cli'), join(copy, 'src', 'cli'), { recursive: true });
    const result = spawnSync(process.execPath, [join(copy, 'bin', 'glutamine-cds.mjs'), '--help'], { cwd: copy, encoding: 'utf8' });
    expect(result.stderr).toContain('dist/ is missing or older than src/, and tsx is not installed: run npm ci && npm run build');
    expect(result.status).toBe(1);
  });

  it('the bin prints no stack trace for a bad option', () => {
    const result = spawnSync(process.execPath, ['bin/glutamine-cds.mjs', 'check', '--foo'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("glutamine-cds: Unknown option '--foo'");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }, 30000);
});

describe('glutamine-cds validate', () => {
  it('passes a valid bundle and hook request', async () => {
    const { code, out } = await cli(
      'validate',
      join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'),
      join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'),
    );
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
