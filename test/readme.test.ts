import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';
import { TEST_FHIR_POLICY, testApp } from './helpers.js';

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The README is the front door: its example and configuration table must stay true. */
describe('README', () => {
  it('its curl example returns the card it shows', async () => {
    const curl = /curl -s -X POST http:\/\/127\.0\.0\.1:3000(\/cds-services\/[a-z-]+) \\\n[^\n]*\n\s+--data @(\S+)/.exec(README);
    expect(curl, 'curl example').not.toBeNull();
    const [, path = '', file = ''] = curl ?? [];
    const shown = /```json\n(\{\n {2}"cards"[\s\S]*?)```/.exec(README)?.[1] ?? '';
    const summary = /"summary": "([^"]+)"/.exec(shown)?.[1];
    const resourceId = /"resourceId": "([^"]+)"/.exec(shown)?.[1];

    const { app } = testApp();
    const res = await request(app).post(path).send(JSON.parse(readFileSync(`${ROOT}/${file}`, 'utf8')) as object).expect(200);
    expect(res.body.cards).toHaveLength(1);
    expect(res.body.cards[0].summary).toBe(summary);
    expect(res.body.cards[0].suggestions[0].actions[0].resourceId).toBe(resourceId);
  });

  it('documents every configuration variable with its real default', () => {
    const defaults = loadConfig({});
    expect(README).toContain(`| \`PORT\` | \`${defaults.port}\` |`);
    expect(README).toContain(`| \`HOST\` | \`${defaults.host}\` |`);
    expect(README).toContain('| `CDS_MAX_BODY` | `10mb` |');
    expect(README).toContain(`| \`LOG_LEVEL\` | \`${defaults.logLevel}\` |`);
    expect(README).toContain('| `CDS_PUBLIC_URL` |');
  });

  it('has a row in the configuration table for every variable the service reads', () => {
    for (const variable of CONFIG_VARIABLES) expect(README, variable).toMatch(new RegExp(`^\\| \`${variable}\` \\|`, 'm'));
  });

  it('gives the two commands', () => {
    expect(README).toContain('npm ci && npm start');
    expect(README).toContain('npm test');
  });
});

describe('README: the local FHIR server example', () => {
  it('answers the no-prefetch Endari request with the cards the README names', async () => {
    const { startLocalFhirServer } = await import('../scripts/local-fhir-server.js');
    const bundle = JSON.parse(readFileSync(`${ROOT}/fixtures/bundles/patient-cirrhosis-ckd.json`, 'utf8')) as unknown;
    const server = await startLocalFhirServer({ resources: [bundle] });
    try {
      expect(README).toContain('npm run fhir-server -- fixtures/bundles/patient-cirrhosis-ckd.json');
      expect(README).toContain('fixtures/requests/endari-no-prefetch.json');
      const body = readFileSync(`${ROOT}/fixtures/requests/endari-no-prefetch.json`, 'utf8').replace('FHIR_SERVER', server.baseUrl);
      const { app } = testApp({ config: { publicUrl: 'http://127.0.0.1:3000', maxBodyBytes: 1024 * 1024, fhir: TEST_FHIR_POLICY } });
      const res = await request(app).post('/cds-services/glutamine-order-sign').set('Content-Type', 'application/json').send(body).expect(200);
      expect(hookResponseSchema.parse(res.body).cards.map((c) => c.source.topic?.code)).toEqual(['liver-disease', 'kidney-disease', 'lactulose']);
    } finally {
      await server.close();
    }
  });
});
