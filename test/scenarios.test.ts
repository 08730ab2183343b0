import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { cardFindings } from '../src/cds/cards.js';
import { FIXTURES_DIR, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, testApp } from './helpers.js';

/** fixtures/scenarios/<name>.json is a complete hook request; <name>.expected.json what must come back. */
interface Expected {
  description: string;
  service: string;
  status: number;
  cards: Array<{
    /** The card's topic: its main rule, or order-notes for the one card of an order's info findings. */
    rule: string;
    indicator: string;
    /** The findings it carries (extension glutamine-cds.findings) as rule:indicator; default just its own. */
    findings?: string[];
    actions?: Array<{ type: string; resourceId: string }>;
    detailIncludes?: string[];
    detailExcludes?: string[];
    /** Texts that must appear exactly once in the detail. */
    detailOnce?: string[];
    summaryIncludes?: string;
    sourceLabel?: string;
  }>;
}

const dir = join(FIXTURES_DIR, 'scenarios');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
  .map((f) => f.replace(/\.json$/, ''));

describe('scenario fixtures', () => {
  it('has at least 15 scenarios, each with an expected file', () => {
    expect(names.length).toBeGreaterThanOrEqual(15);
    for (const name of names) expect(readdirSync(dir)).toContain(`${name}.expected.json`);
  });

  it.each(names)('%s', async (name) => {
    const body = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as unknown;
    const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected;
    // Scenarios are about the prefetch: no fixture may reach out to a FHIR server.
    const { app } = testApp({ config: { publicUrl: PUBLIC_URL, maxBodyBytes: 10 * 1024 * 1024, fhir: NO_OUTBOUND_FHIR_POLICY } });
    const res = await request(app)
      .post(`/cds-services/${expected.service}`)
      .send(body as object);

    expect(res.status, JSON.stringify(res.body)).toBe(expected.status);
    if (expected.status !== 200) {
      expect(res.body).toMatchObject({ resourceType: 'OperationOutcome' });
      return;
    }
    const response = hookResponseSchema.parse(res.body);
    expect(response.cards.map((c) => [c.source.topic?.code, c.indicator])).toEqual(expected.cards.map((c) => [c.rule, c.indicator]));
    response.cards.forEach((card, i) => {
      const want = expected.cards[i];
      if (!want) return;
      expect(
        cardFindings(card).map((f) => `${f.rule}:${f.indicator}`),
        `${want.rule} findings`,
      ).toEqual(want.findings ?? [`${want.rule}:${want.indicator}`]);
      const actions = card.suggestions?.flatMap((s) => s.actions ?? []).map((a) => ({ type: a.type, resourceId: a.resourceId }));
      expect(actions, `${want.rule} suggestion actions`).toEqual(want.actions);
      for (const text of want.detailIncludes ?? []) expect(card.detail).toContain(text);
      for (const text of want.detailExcludes ?? []) expect(card.detail).not.toContain(text);
      for (const text of want.detailOnce ?? []) expect(card.detail?.split(text).length, `${text} once`).toBe(2);
      if (want.summaryIncludes) expect(card.summary).toContain(want.summaryIncludes);
      if (want.sourceLabel) expect(card.source.label).toBe(want.sourceLabel);
      // The source is named by source.label, which EHRs show; the detail does not repeat it (revision 2, item 28).
      expect(card.detail).not.toMatch(/^Source: /m);
    });
  });
});
