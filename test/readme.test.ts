import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlFor, readmeExamples, shownCardProblems } from '../scripts/readme-examples.js';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';
import { DAY_MS } from '../src/fhir/dates.js';
import { startService } from './service-process.js';
import type { ServiceProcess } from './service-process.js';
import { cardLabel } from './helpers.js';

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sh = promisify(execFile);

/** Runs a command from README as a user would paste it, in the repository. */
async function shell(command: string): Promise<string> {
  return (await sh('bash', ['-c', command], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/**
 * README's examples against the built service, `node dist/main.js` (what `npm start` runs after its
 * build), exactly as README writes them: only the port differs.
 */
describe('README examples, against the built service', () => {
  let service: ServiceProcess;
  let base = '';
  const examples = readmeExamples(README);

  beforeAll(async () => {
    service = startService({ PORT: '0', CDS_ALLOW_HTTP_FHIR: 'true' });
    base = `http://127.0.0.1:${(await service.listening()).port}`;
  }, 20_000);

  afterAll(async () => {
    service.child.kill('SIGTERM');
    await once(service.child, 'exit');
  });

  it('gives the two commands a new user runs', () => {
    expect(examples.startCommand).toBe('npm ci && npm start');
    expect(examples.testCommand).toBe('npm test');
  });

  it('its curl example returns the card it shows', async () => {
    const response = JSON.parse(await shell(curlFor(examples.curl, base))) as unknown;
    expect(hookResponseSchema.safeParse(response).success).toBe(true);
    expect(shownCardProblems(response, examples.shownCard)).toEqual([]);
    expect(examples.shownCard).toMatchObject({ ruleId: 'liver-disease', indicator: 'critical' });
  });

  it('the local FHIR server walkthrough answers with the cards README names', async () => {
    const walkthrough = /```sh\n(npm run fhir-server -- (\S+)[^\n]*)\n(CDS_ALLOW_HTTP_FHIR=true npm start)[^\n]*\n(curl [\s\S]*?)\n```/.exec(README);
    expect(walkthrough, 'the walkthrough block').not.toBeNull();
    const [, , bundleFile = '', , curl = ''] = walkthrough ?? [];
    const { startLocalFhirServer } = await import('../scripts/local-fhir-server.js');
    const bundle = JSON.parse(readFileSync(`${ROOT}/${bundleFile}`, 'utf8')) as { entry: Array<{ resource: { id?: string; effectiveDateTime?: string } }> };
    const fhir = await startLocalFhirServer({ resources: [bundle] });
    try {
      const response = JSON.parse(await shell(curlFor(curl, base).replaceAll('http://127.0.0.1:8090/fhir', fhir.baseUrl))) as unknown;
      const rules = hookResponseSchema.parse(response).cards.map(cardLabel);
      // README: "the liver-disease and lactulose cards (and the kidney card while the bundle's eGFR is
      // within 90 days)" — the built service runs on the real clock.
      const egfrDate = bundle.entry.find((e) => e.resource.id === 'obs-2001-egfr')?.resource.effectiveDateTime ?? '';
      const egfrRecent = Date.now() - Date.parse(egfrDate) <= 90 * DAY_MS;
      expect(rules).toEqual(
        egfrRecent ? ['liver-disease:critical + lactulose:warning', 'kidney-disease:warning'] : ['liver-disease:critical + lactulose:warning'],
      );
    } finally {
      await fhir.close();
    }
  });
});

/** The README is the front door: its examples and configuration table must stay true. */
describe('README', () => {
  it('documents every configuration variable with its real default', () => {
    const defaults = loadConfig({});
    expect(README).toContain(`| \`PORT\` | \`${defaults.port}\` |`);
    expect(README).toContain(`| \`HOST\` | \`${defaults.host}\` |`);
    expect(README).toContain('| `CDS_MAX_BODY` | `5mb` |');
    expect(defaults.maxBodyBytes).toBe(5 * 1024 * 1024);
    expect(README).toContain(`| \`CDS_MAX_DRAFT_ORDERS\` | \`${defaults.limits.maxDraftOrders}\` |`);
    expect(README).toContain(`| \`CDS_MAX_PREFETCH_RESOURCES\` | \`${defaults.limits.maxPrefetchResources}\` |`);
    expect(README).toContain(`| \`CDS_MAX_JSON_DEPTH\` | \`${defaults.limits.maxDepth}\` |`);
    expect(README).toContain(`| \`CDS_MAX_STRING_LENGTH\` | \`${defaults.limits.maxStringLength}\` |`);
    expect(README).toContain(`| \`LOG_LEVEL\` | \`${defaults.logLevel}\` |`);
    expect(README).toContain('| `CDS_PUBLIC_URL` |');
  });

  it('has a row in the configuration table for every variable the service reads', () => {
    for (const variable of CONFIG_VARIABLES) expect(README, variable).toMatch(new RegExp(`^\\| \`${variable}\` \\|`, 'm'));
  });
});
