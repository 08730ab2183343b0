import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { cardFindings } from '../src/cds/cards.js';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, testApp } from './helpers.js';

/** Per-request configuration, Da Vinci CRD style (issue 16, item 2): each option, one by one. */

const SIGN = '/cds-services/glutamine-order-sign';

function scenario(name: string, configuration?: unknown): Record<string, unknown> {
  const body = JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Record<string, unknown>;
  return configuration === undefined ? body : { ...body, extension: { 'davinci-crd.configuration': configuration } };
}

function app() {
  return testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY } });
}

async function cards(body: object): Promise<string[][]> {
  const res = await request(app().app).post(SIGN).send(body).expect(200);
  return hookResponseSchema.parse(res.body).cards.map((c) => cardFindings(c).map((f) => `${f.rule}:${f.indicator}`));
}

describe('configuration options', () => {
  it('discovery advertises each option with its code, type, name, description and default', async () => {
    const res = await request(app().app).get('/cds-services').expect(200);
    for (const service of res.body.services as Array<{ extension: Record<string, unknown> }>) {
      expect(service.extension['davinci-crd.configuration-options']).toEqual([
        { code: 'suppress-repeats', type: 'boolean', name: expect.any(String), description: expect.any(String), default: true },
        { code: 'show-info', type: 'boolean', name: expect.any(String), description: expect.any(String), default: true },
        { code: 'dose-checks', type: 'boolean', name: expect.any(String), description: expect.any(String), default: true },
        { code: 'counselling', type: 'boolean', name: expect.any(String), description: expect.any(String), default: false },
        { code: 'max-cards', type: 'integer', name: expect.any(String), description: expect.any(String), default: 0 },
      ]);
    }
  });

  it('show-info: false leaves informational findings out, but never the card naming what was not checked', async () => {
    expect(await cards(scenario('combination-product-coded'))).toEqual([['combination-product:info']]);
    expect(await cards(scenario('combination-product-coded', { 'show-info': false }))).toEqual([]);
    expect(await cards(scenario('combination-product-coded', { 'show-info': true }))).toEqual([['combination-product:info']]);
    expect(await cards(scenario('conditions-only-incomplete-data', { 'show-info': false }))).toEqual([['incomplete-data:info']]);
  });

  it('dose-checks: false leaves the dose checks out, and nothing else', async () => {
    expect(await cards(scenario('dose-above-30g'))).toEqual([['dose-above-range:warning']]);
    expect(await cards(scenario('dose-above-30g', { 'dose-checks': false }))).toEqual([]);
    expect(await cards(scenario('cirrhosis-high-ammonia-lactulose-ckd4', { 'dose-checks': false }))).toEqual(
      await cards(scenario('cirrhosis-high-ammonia-lactulose-ckd4')),
    );
  });

  it('counselling: true adds one line of advice to the first card about each order, never a card of its own', async () => {
    const line = 'glutamine does not replace medication for IBD or IBS; taking it apart from protein shakes is commonly advised.';
    const plain = hookResponseSchema.parse((await request(app().app).post(SIGN).send(scenario('cirrhosis-high-ammonia-lactulose-ckd4')).expect(200)).body);
    expect(plain.cards.some((c) => c.detail?.includes(line))).toBe(false);
    const counselled = hookResponseSchema.parse(
      (
        await request(app().app)
          .post(SIGN)
          .send(scenario('cirrhosis-high-ammonia-lactulose-ckd4', { counselling: true }))
          .expect(200)
      ).body,
    );
    expect(counselled.cards).toHaveLength(plain.cards.length);
    expect(counselled.cards.map((c) => c.detail?.split(line).length ?? 1)).toEqual([2, 1]);
    // No finding, no card: counselling alone never makes one.
    expect(await cards(scenario('dose-20g-boundary-no-card', { counselling: true }))).toEqual([]);
  });

  it('max-cards: the least urgent cards are left out, never a critical one, and counted in the response', async () => {
    const res = await request(app().app)
      .post(SIGN)
      .send(scenario('cirrhosis-high-ammonia-lactulose-ckd4', { 'max-cards': 1 }))
      .expect(200);
    const response = hookResponseSchema.parse(res.body);
    expect(response.cards.map((c) => c.indicator)).toEqual(['critical']);
    expect(response.extension).toEqual({ 'glutamine-cds.suppressed': { count: 1, rules: ['kidney-disease'], reasons: { 'max-cards': 1 } } });
    // 0 is no limit; without the option there is no extension.
    const unlimited = await request(app().app)
      .post(SIGN)
      .send(scenario('cirrhosis-high-ammonia-lactulose-ckd4', { 'max-cards': 0 }))
      .expect(200);
    expect(unlimited.body.cards).toHaveLength(2);
    expect(unlimited.body.extension).toBeUndefined();
    // A critical card stays even beyond the limit.
    const criticalOnly = await request(app().app)
      .post(SIGN)
      .send(scenario('ammonia-ugdl-critical', { 'max-cards': 1 }))
      .expect(200);
    expect(criticalOnly.body.cards.every((c: { indicator: string }) => c.indicator === 'critical')).toBe(true);
  });

  it.each([
    [{ 'show-info': 'no' }, 'extension.davinci-crd.configuration.show-info must be true or false'],
    [{ 'dose-checks': 0 }, 'extension.davinci-crd.configuration.dose-checks must be true or false'],
    [{ 'suppress-repeats': 'off' }, 'extension.davinci-crd.configuration.suppress-repeats must be true or false'],
    [{ counselling: null }, 'extension.davinci-crd.configuration.counselling must be true or false'],
    [{ 'max-cards': -1 }, 'extension.davinci-crd.configuration.max-cards must be a whole number, 0 or more'],
    [{ 'max-cards': 1.5 }, 'extension.davinci-crd.configuration.max-cards must be a whole number, 0 or more'],
    [{ 'max-cards': '2' }, 'extension.davinci-crd.configuration.max-cards must be a whole number, 0 or more'],
    [['show-info'], 'extension.davinci-crd.configuration must be an object of option values'],
  ])('a wrong type is a 400 naming the option: %j', async (configuration, message) => {
    const res = await request(app().app).post(SIGN).send(scenario('cirrhosis-order-sign', configuration)).expect(400);
    expect(res.body.issue[0]).toMatchObject({ diagnostics: message, expression: [message.split(' ')[0]] });
  });

  it('unknown options are ignored, and logged by name only', async () => {
    const { app: service, logs } = app();
    const res = await request(service)
      .post(SIGN)
      .send(scenario('cirrhosis-order-sign', { 'future-option': 'patient Jane Doe', 'show-info': true }))
      .expect(200);
    expect(res.body.cards).toHaveLength(1);
    const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'unknown configuration options ignored');
    expect(line?.options).toEqual(['future-option']);
    expect(logs.join('\n')).not.toContain('Jane Doe');
  });
});
