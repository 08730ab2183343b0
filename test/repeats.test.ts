import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import type { AuditStore } from '../src/store/audit-store.js';
import { PostgresAuditStore } from '../src/store/postgres-store.js';
import { SqliteAuditStore } from '../src/store/sqlite-store.js';
import { sharedPostgres } from './shared-postgres.js';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, cardLabel, testApp } from './helpers.js';

/**
 * One conversation, not two alarms (issue 16): a card shown at order-select is not shown again at
 * order-sign for the same user, patient, encounter, order and evidence — on either store.
 */

const SELECT = '/cds-services/glutamine-order-select';
const SIGN = '/cds-services/glutamine-order-sign';

const postgres = sharedPostgres();

type Body = Record<string, unknown> & { context: Record<string, unknown>; prefetch: Record<string, { entry: Array<{ resource: Record<string, unknown> }> }> };

function scenario(name: string): Body {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', `${name}.json`), 'utf8')) as Body;
}

/** The order-sign fixture as the order-select call that comes before it (the order selected). */
function asSelect(body: Body): Body {
  return { ...body, hook: 'order-select', hookInstance: randomUUID(), context: { ...body.context, selections: ['MedicationRequest/glutamine-1'] } };
}

const signAgain = (body: Body): Body => ({ ...body, hookInstance: randomUUID() });

describe.each([
  ['SQLite', async (): Promise<AuditStore> => Promise.resolve(new SqliteAuditStore(':memory:'))],
  ['PostgreSQL', async (): Promise<AuditStore> => PostgresAuditStore.open(await postgres().database())],
])('repeat suppression on %s', (_name, openStore) => {
  async function service() {
    const store = await openStore();
    const { app } = testApp({ store, config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY } });
    const call = async (path: string, body: object) => hookResponseSchema.parse((await request(app).post(path).send(body).expect(200)).body);
    return { app, store, call };
  }

  it('a warning shown at order-select is not shown again at order-sign; the response counts it', async () => {
    const { store, call } = await service();
    try {
      const sign = scenario('ammonia-above-reference-range');
      expect((await call(SELECT, asSelect(sign))).cards.map(cardLabel)).toEqual(['hyperammonemia:warning']);
      const signed = await call(SIGN, signAgain(sign));
      expect(signed.cards).toEqual([]);
      expect(signed.extension).toEqual({ 'glutamine-cds.suppressed': { count: 1, rules: ['hyperammonemia'], reasons: { repeat: 1 } } });
      // The Sandbox sends order-select several times: the same holds between them.
      expect((await call(SELECT, asSelect(sign))).cards).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('a new ammonia result between the two calls makes the card come back at sign', async () => {
    const { store, call } = await service();
    try {
      const sign = scenario('ammonia-above-reference-range');
      await call(SELECT, asSelect(sign));
      const newer = structuredClone(sign);
      const observation = newer.prefetch.ammonia?.entry[0]?.resource;
      if (!observation) throw new Error('no ammonia in the fixture');
      Object.assign(observation, {
        id: 'nh3-newer',
        effectiveDateTime: '2026-11-25T08:30:00Z',
        issued: '2026-11-25T08:30:00Z',
        valueQuantity: { value: 58, unit: 'umol/L', system: 'http://unitsofmeasure.org', code: 'umol/L' },
      });
      expect((await call(SIGN, signAgain(newer))).cards.map(cardLabel)).toEqual(['hyperammonemia:warning']);
    } finally {
      await store.close();
    }
  });

  it('a critical card comes back at sign every time', async () => {
    const { store, call } = await service();
    try {
      const sign = scenario('cirrhosis-high-ammonia-lactulose-ckd4');
      expect((await call(SELECT, asSelect(sign))).cards.map((c) => c.indicator)).toEqual(['critical', 'warning']);
      for (let i = 0; i < 2; i++) expect((await call(SIGN, signAgain(sign))).cards.map((c) => c.indicator)).toEqual(['critical']);
    } finally {
      await store.close();
    }
  });

  it('with filter-out-repeated-alerts: false (PDDI flags), or suppress-repeats: false, the warning comes back too', async () => {
    const { store, call } = await service();
    try {
      const sign = scenario('ammonia-above-reference-range');
      await call(SELECT, asSelect(sign));
      const pddi = { ...signAgain(sign), extension: { 'pddi-configuration-items': { 'filter-out-repeated-alerts': false } } };
      expect((await call(SIGN, pddi)).cards.map(cardLabel)).toEqual(['hyperammonemia:warning']);
      const crd = { ...signAgain(sign), extension: { 'davinci-crd.configuration': { 'suppress-repeats': false } } };
      expect((await call(SIGN, crd)).cards.map(cardLabel)).toEqual(['hyperammonemia:warning']);
    } finally {
      await store.close();
    }
  });

  it('another user, patient or encounter is another conversation; cache-for-order-sign-filtering: false remembers nothing', async () => {
    const { store, call } = await service();
    try {
      const sign = scenario('ammonia-above-reference-range');
      await call(SELECT, asSelect(sign));
      const otherUser = { ...signAgain(sign), context: { ...sign.context, userId: 'Practitioner/someone-else' } };
      expect((await call(SIGN, otherUser)).cards).toHaveLength(1);
      const otherEncounter = { ...signAgain(sign), context: { ...sign.context, encounterId: 'enc-other' } };
      expect((await call(SIGN, otherEncounter)).cards).toHaveLength(1);

      const fresh = { ...sign, context: { ...sign.context, encounterId: 'enc-uncached' } };
      await call(SELECT, { ...asSelect(fresh), extension: { 'pddi-configuration-items': { 'cache-for-order-sign-filtering': false } } });
      expect((await call(SIGN, signAgain(fresh))).cards).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('feedback on the card ends its repeat: the next call shows it again', async () => {
    const { app, store, call } = await service();
    try {
      const sign = scenario('ammonia-above-reference-range');
      const [shown] = (await call(SELECT, asSelect(sign))).cards;
      await request(app)
        .post(`${SELECT}/feedback`)
        .send({ feedback: [{ card: shown?.uuid, outcome: 'overridden', outcomeTimestamp: '2026-11-26T11:56:00Z' }] })
        .expect(200);
      expect((await call(SIGN, signAgain(sign))).cards.map(cardLabel)).toEqual(['hyperammonemia:warning']);
    } finally {
      await store.close();
    }
  });
});
