import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { parseTrustedClients } from '../src/auth/trusted-clients.js';
import { clientVerifier } from '../src/auth/verify-client-jwt.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import type { HookResponse } from '../src/cds/card-schema.js';
import { run } from '../src/cli/main.js';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, cardLabel, testApp } from './helpers.js';

/** The glutamine-cds command line against the fixture library. */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUNDLES = join(FIXTURES_DIR, 'bundles');
const FHIR_SERVER_DATA = join(FIXTURES_DIR, 'fhir-server');
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
    const { code, err } = await cli('check', join(FHIR_SERVER_DATA, 'patient-cirrhosis-ckd.json'));
    expect(code).toBe(1);
    expect(err).toContain('patient-cirrhosis-ckd.json: the bundle has no glutamine MedicationRequest to check');
  });

  it('fetches from a FHIR server given with --fhir-server (the docs/integration.md walkthrough)', async () => {
    const { startLocalFhirServer } = await import('../scripts/local-fhir-server.js');
    const server = await startLocalFhirServer({ resources: [JSON.parse(readFileSync(join(FHIR_SERVER_DATA, 'patient-cirrhosis-ckd.json'), 'utf8'))] });
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
    [['check', '--token', 'abc', 'x.json'], '--token and --sign-with are for calling a service with --url'],
    [['check', '--url', 'http://127.0.0.1:3000', '--sign-with', 'key.json', 'x.json'], '--sign-with needs --iss'],
    [['check', '--iss', 'https://ehr.example.org', 'x.json'], '--iss and --kid go with --sign-with'],
    [['check', '--fhir-timeout', 'soon', 'x.json'], '--fhir-timeout must be a number of milliseconds'],
    [['check', join('fixtures', 'bundles', 'hyperammonemia-ammonia-98.expected.json')], 'nothing to check: only *.expected.json files were given'],
    [['frobnicate'], 'unknown command: frobnicate'],
    [[], 'no command given'],
  ])('%j is a usage error: the reason and the usage on stderr, exit 2', async (args, reason) => {
    const { code, out, err } = await cli(...args);
    expect(code).toBe(2);
    expect(err).toContain(reason);
    expect(err).toContain('Usage:');
    expect(out).toBe('');
  });

  it('--help prints each command its own usage with its exit codes, exit 0; --version the package version', async () => {
    for (const [args, usage, option] of [
      [['--help'], 'Usage: glutamine-cds <command> [options]', 'glutamine-cds <command> --help'],
      [['check', '--help'], 'Usage: glutamine-cds check [options] <file or folder…>', '--sign-with KEY --iss ISS'],
      [['validate', '-h'], 'Usage: glutamine-cds validate <file or folder…>', 'Exit codes: 0 all valid'],
      [['report', '--help'], 'Usage: glutamine-cds report [--since DATE] [--json]', 'CDS_DATABASE_URL'],
    ] as const) {
      const { code, out } = await cli(...args);
      expect(code).toBe(0);
      expect(out.startsWith(usage), out).toBe(true);
      expect(out).toContain(option);
      expect(out).toContain('Exit codes: 0');
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await cli('--version')).toEqual({ code: 0, out: pkg.version, err: '' });
    // An unknown option answers with the usage of its own command.
    const wrong = await cli('report', '--frobnicate');
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain("Unknown option '--frobnicate'");
    expect(wrong.err).toContain('Usage: glutamine-cds report');
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

  it('runs compiled, with only what the image holds (dist/, bin/, cards/, fixtures/, package.json): check, report, --version', () => {
    const image = mkdtempSync(join(tmpdir(), 'glutamine-image-'));
    for (const part of ['dist', 'bin', 'cards', 'fixtures', 'package.json']) cpSync(join(ROOT, part), join(image, part), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(image, 'node_modules'));
    const bin = (...args: string[]) =>
      spawnSync(process.execPath, ['bin/glutamine-cds.mjs', ...args], {
        cwd: image,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', CDS_DB_PATH: join(image, 'none.sqlite') },
      });
    const checked = bin('check', '--now', FIXTURE_DAY, 'fixtures/bundles/liver-disease-alcoholic-cirrhosis.json');
    expect(checked.stderr).toBe('');
    expect(checked.stdout).toContain('CRITICAL Avoid glutamine: advanced liver disease');
    expect(checked.status).toBe(3);
    expect(bin('--version').stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const report = bin('report');
    expect(report.stderr).toContain(`glutamine-cds report: No audit database at ${join(image, 'none.sqlite')}`);
    expect(report.status).toBe(1);
  }, 30000);

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
    const file = join(mkdtempSync(join(tmpdir(), 'glutamine-validate-')), 'not-a-request.json');
    writeFileSync(file, JSON.stringify({ description: 'an expected file, not a request', cards: [] }));
    const { code, out } = await cli('validate', file);
    expect(code).toBe(1);
    expect(out).toContain('neither a CDS Hooks request');
  });
});

describe('glutamine-cds check for integrators: expected files, folders, tokens, FHIR limits', () => {
  const scenarios = join(FIXTURES_DIR, 'scenarios');
  const scratch = (): string => mkdtempSync(join(tmpdir(), 'glutamine-check-'));

  it('--expect compares every fixture of a folder with its expected file, both shapes', async () => {
    const bundleRun = await cli('check', '--expect', '--now', FIXTURE_DAY, BUNDLES);
    expect(bundleRun.err).toBe('');
    expect(bundleRun.out).toContain(`${String(bundles.length)} of ${String(bundles.length)} as expected`);
    expect(bundleRun.code).toBe(0); // critical cards that were expected are a pass
    const scenarioCount = readdirSync(scenarios).filter((f) => f.endsWith('.expected.json')).length;
    const scenarioRun = await cli('check', '--expect', '--now', FIXTURE_DAY, scenarios);
    expect(scenarioRun.err).toBe('');
    expect(scenarioRun.out).toContain(`${String(scenarioCount)} of ${String(scenarioCount)} as expected`);
  });

  it('skips *.expected.json when a shell glob passes them (check fixtures/bundles/*.json)', async () => {
    const glob = readdirSync(BUNDLES).map((f) => join(BUNDLES, f));
    expect(glob.some((f) => f.endsWith('.expected.json'))).toBe(true);
    const { code, err, out } = await cli('check', '--now', FIXTURE_DAY, ...glob);
    expect(err).toBe('');
    expect(code).toBe(3);
    expect(out.match(/\(order-sign\)/g)).toHaveLength(bundles.length);
  });

  it('--expect names each difference and exits 1', async () => {
    const dir = scratch();
    cpSync(join(BUNDLES, 'hyperammonemia-ammonia-98.json'), join(dir, 'ammonia.json'));
    writeFileSync(join(dir, 'ammonia.expected.json'), JSON.stringify({ cards: ['hyperammonemia:warning'] }));
    cpSync(join(scenarios, 'cirrhosis-order-sign.json'), join(dir, 'scenario.json'));
    writeFileSync(join(dir, 'scenario.expected.json'), JSON.stringify({ service: 'glutamine-order-sign', status: 400, cards: [] }));
    cpSync(join(BUNDLES, 'no-findings-healthy-adult.json'), join(dir, 'unexpected.json'));
    const { code, err, out } = await cli('check', '--expect', '--now', FIXTURE_DAY, dir);
    expect(code).toBe(1);
    expect(err).toContain(`${join(dir, 'ammonia.json')}: not as expected\n  - expected cards [hyperammonemia:warning], got [hyperammonemia:critical]`);
    expect(err).toContain('  - expected HTTP 400, got 200');
    expect(err).toContain(`  - no ${join(dir, 'unexpected.expected.json')} to compare with`);
    expect(out).toContain('0 of 3 as expected');
  });

  it('--sign-with signs a CDS client JWT the service accepts; --token sends one as it is; without either, the 401 says what to give', async () => {
    const dir = scratch();
    const key = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const iss = 'https://ehr.example.org';
    writeFileSync(join(dir, 'key.json'), JSON.stringify({ ...key.privateKey.export({ format: 'jwk' }), kid: 'cli-1' }));
    const clients = parseTrustedClients({ clients: [{ iss, jwks: { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'cli-1' }] } }] }, 'test');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const url = `http://127.0.0.1:${String(typeof address === 'object' && address ? address.port : 0)}`;
    const store = new SqliteAuditStore(':memory:');
    const { app } = testApp({
      config: { publicUrl: url, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY },
      store,
      verifyClient: clientVerifier(clients, { replay: store }),
    });
    server.on('request', app);
    try {
      const file = join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json');
      const signed = await cli('check', '--url', url, '--sign-with', join(dir, 'key.json'), '--iss', iss, '--now', FIXTURE_DAY, file, file);
      expect(signed.err).toBe('');
      expect(signed.code).toBe(3); // both calls accepted: a fresh jti each
      expect(signed.out.match(/CRITICAL Avoid glutamine: advanced liver disease/g)).toHaveLength(2);

      const unsigned = await cli('check', '--url', url, file);
      expect(unsigned.code).toBe(1);
      expect(unsigned.err).toContain('the service answered HTTP 401 (an authenticated service: give --token, or --sign-with KEY --iss ISS)');

      const token = jwt.sign({ jti: randomUUID() }, key.privateKey, {
        algorithm: 'ES384',
        keyid: 'cli-1',
        issuer: iss,
        subject: iss,
        audience: `${url}/cds-services/glutamine-order-sign`,
        expiresIn: 300,
      });
      const given = await cli('check', '--url', url, '--token', token, file);
      expect(given.code).toBe(3);
      const replayed = await cli('check', '--url', url, '--token', token, file);
      expect(replayed.err).toContain('HTTP 401');

      writeFileSync(join(dir, 'public.json'), JSON.stringify(key.publicKey.export({ format: 'jwk' })));
      const wrongKey = await cli('check', '--url', url, '--sign-with', join(dir, 'public.json'), '--iss', iss, file);
      expect(wrongKey.code).toBe(2);
      expect(wrongKey.err).toContain('is a public JWK: signing needs the private key');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('says why a service cannot be reached, not just "fetch failed"', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise((resolve) => server.close(resolve)); // nothing listens there now
    const { code, err } = await cli('check', '--url', `http://127.0.0.1:${String(port)}`, join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'));
    expect(code).toBe(1);
    expect(err).toContain(`cannot reach http://127.0.0.1:${String(port)}/cds-services/glutamine-order-sign: connect ECONNREFUSED 127.0.0.1:${String(port)}`);
    expect(err).not.toContain('fetch failed');
  });

  it('reads the FHIR server within CDS_FHIR_TIMEOUT_MS, or --fhir-timeout, as the service would', async () => {
    const { startLocalFhirServer } = await import('../scripts/local-fhir-server.js');
    // Conditions answer after 400 ms: within the default 2 s timeout, not within 100 ms.
    const server = await startLocalFhirServer({
      resources: [JSON.parse(readFileSync(join(FHIR_SERVER_DATA, 'patient-cirrhosis-ckd.json'), 'utf8'))],
      intercept: async (req) => {
        if (req.path.startsWith('Condition')) await new Promise((resolve) => setTimeout(resolve, 400));
        return undefined;
      },
    });
    try {
      const args = ['check', '--json', '--now', FIXTURE_DAY, '--fhir-server', server.baseUrl, join(FIXTURES_DIR, 'requests', 'endari-no-prefetch.json')];
      const labels = async (extra: string[], env: Record<string, string> = {}): Promise<string[]> => {
        const out: string[] = [];
        await run(
          [...args.slice(0, 1), ...extra, ...args.slice(1)],
          (t) => out.push(t),
          () => undefined,
          { PATH: process.env.PATH ?? '', ...env },
        );
        return (JSON.parse(out.join('\n')) as HookResponse).cards.map(cardLabel);
      };
      expect((await labels([])).join(' ')).toContain('liver-disease:critical');
      for (const slow of [await labels(['--fhir-timeout', '100']), await labels([], { CDS_FHIR_TIMEOUT_MS: '100' })]) {
        expect(slow.join(' ')).not.toContain('liver-disease');
        expect(slow.join(' ')).toContain('incomplete-data:info');
      }
    } finally {
      await server.close();
    }
  });

  it('validate says it is loading before the seconds of silence, and takes a folder', async () => {
    const dir = scratch();
    cpSync(join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.json'), join(dir, 'a.json'));
    cpSync(join(BUNDLES, 'liver-disease-alcoholic-cirrhosis.expected.json'), join(dir, 'a.expected.json'));
    const { code, out, err } = await cli('validate', dir);
    expect(err).toBe('validate: loading the FHIR R4 definitions, then checking 1 file…');
    expect(out).toBe(`${join(dir, 'a.json')}: valid`);
    expect(code).toBe(0);
  });
});
